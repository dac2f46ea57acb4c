import { describe, expect, it } from 'vitest';
import { basicAuthorization, bypassesProxy, parseProxyConf, parseProxyUrl, proxyFor } from '../../../agent/proxy.ts';

describe('proxy.conf', () => {
  it('reads proxy:port:user:password', () => {
    expect(parseProxyConf('proxy.example.com:3128:alice:s3cret\n')).toEqual({ host: 'proxy.example.com', port: 3128, username: 'alice', password: 's3cret' });
  });

  it('allows an empty user and password (no authentication)', () => {
    expect(parseProxyConf('10.0.0.1:8080::')).toEqual({ host: '10.0.0.1', port: 8080 });
    expect(parseProxyConf('10.0.0.1:8080')).toEqual({ host: '10.0.0.1', port: 8080 });
    expect(basicAuthorization(parseProxyConf('10.0.0.1:8080::'))).toBeUndefined();
  });

  it('keeps colons in the password and skips comments and blank lines', () => {
    expect(parseProxyConf('# site proxy\n\n  proxy:3128:bob:a:b:c  \n')).toEqual({ host: 'proxy', port: 3128, username: 'bob', password: 'a:b:c' });
  });

  it('takes an IPv6 address in brackets', () => {
    expect(parseProxyConf('[::1]:3128:u:p')).toEqual({ host: '::1', port: 3128, username: 'u', password: 'p' });
  });

  it('refuses a missing or bad port and an empty file', () => {
    expect(() => parseProxyConf('proxy::u:p')).toThrow(/port/);
    expect(() => parseProxyConf('proxy:99999:u:p')).toThrow(/port/);
    expect(() => parseProxyConf('proxy:http:u:p')).toThrow(/port/);
    expect(() => parseProxyConf('\n# nothing\n')).toThrow(/empty/);
    expect(() => parseProxyConf(':3128:u:p')).toThrow(/host/);
  });

  it('builds a basic authorization with a user only, a password only, or both', () => {
    expect(basicAuthorization({ host: 'p', port: 1, username: 'alice', password: 's3cret' })).toBe(`Basic ${Buffer.from('alice:s3cret').toString('base64')}`);
    expect(basicAuthorization({ host: 'p', port: 1, username: 'alice' })).toBe(`Basic ${Buffer.from('alice:').toString('base64')}`);
  });
});

describe('proxy environment', () => {
  it('reads http://user:pass@host:port', () => {
    expect(parseProxyUrl('http://a%40b:p%3Aw@proxy:8080')).toEqual({ host: 'proxy', port: 8080, username: 'a@b', password: 'p:w' });
    expect(parseProxyUrl('proxy:3128')).toEqual({ host: 'proxy', port: 3128 });
    expect(() => parseProxyUrl('socks5://proxy:1080')).toThrow(/http/);
  });

  it('picks HTTPS_PROXY for https and HTTP_PROXY for http, lower case too', () => {
    const env = { HTTPS_PROXY: 'http://secure:1', http_proxy: 'http://plain:2' };
    expect(proxyFor('https://updates.example.com/v1/manifest', undefined, env)?.host).toBe('secure');
    expect(proxyFor('http://updates.example.com/v1/manifest', undefined, env)?.host).toBe('plain');
    expect(proxyFor('http://updates.example.com/', undefined, {})).toBeUndefined();
  });

  it('lets proxy.conf win over the environment, and NO_PROXY exempt hosts from both', () => {
    const conf = { host: 'conf', port: 3128 };
    expect(proxyFor('https://updates.example.com/', conf, { HTTPS_PROXY: 'http://env:1' })?.host).toBe('conf');
    expect(proxyFor('https://updates.example.com/', conf, { NO_PROXY: '.example.com' })).toBeUndefined();
  });

  it('matches NO_PROXY entries by host, suffix, wildcard and port', () => {
    const url = (u: string) => new URL(u);
    expect(bypassesProxy(url('http://localhost:8080/'), 'localhost')).toBe(true);
    expect(bypassesProxy(url('http://a.internal/'), '.internal')).toBe(true);
    expect(bypassesProxy(url('http://internal/'), '.internal')).toBe(true);
    expect(bypassesProxy(url('http://b.a.internal/'), 'a.internal')).toBe(true);
    expect(bypassesProxy(url('http://xa.internal/'), 'a.internal')).toBe(false);
    expect(bypassesProxy(url('http://a.corp/'), '*.corp')).toBe(true);
    expect(bypassesProxy(url('http://host:8080/'), 'host:8080')).toBe(true);
    expect(bypassesProxy(url('http://host:9090/'), 'host:8080')).toBe(false);
    expect(bypassesProxy(url('http://anything/'), '*')).toBe(true);
    expect(bypassesProxy(url('http://other/'), 'localhost, 127.0.0.1')).toBe(false);
    expect(bypassesProxy(url('http://127.0.0.1:5/'), 'localhost, 127.0.0.1')).toBe(true);
  });
});
