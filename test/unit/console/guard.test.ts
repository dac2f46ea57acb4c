import { describe, expect, it } from 'vitest';
import { allowedHosts, hostRefusal, proxyRefusal } from '#console/guard.ts';

const hosts = allowedHosts('127.0.0.1', 8181);
const token = 'a-token-of-this-run';
const good = { method: 'GET', host: '127.0.0.1:8181', origin: undefined, secFetchSite: 'same-origin', token, contentType: undefined };

describe('who may use the console proxy', () => {
  it('answers to its own address and port, by IP or as localhost', () => {
    expect(hosts).toEqual(expect.arrayContaining(['127.0.0.1:8181', 'localhost:8181', '[::1]:8181']));
    expect(hostRefusal('LOCALHOST:8181', hosts)).toBeUndefined();
    expect(allowedHosts('::1', 8181)).toEqual(expect.arrayContaining(['[::1]:8181', 'localhost:8181']));
    expect(allowedHosts('::1', 8181)).not.toContain('::1:8181');
  });

  it('refuses a Host it does not own: a DNS-rebound name, another port, none', () => {
    for (const host of ['evil.example:8181', '127.0.0.1:8080', 'localhost', undefined]) {
      expect(hostRefusal(host, hosts)?.status).toBe(421);
      expect(proxyRefusal({ ...good, host }, { hosts, token })?.code).toBe('MISDIRECTED_REQUEST');
    }
  });

  it('lets its own page through, and a call without browser headers (curl) with the token', () => {
    expect(proxyRefusal(good, { hosts, token })).toBeUndefined();
    expect(proxyRefusal({ ...good, origin: 'http://127.0.0.1:8181', method: 'POST', contentType: 'application/json; charset=utf-8' }, { hosts, token })).toBeUndefined();
    expect(proxyRefusal({ ...good, secFetchSite: undefined }, { hosts, token })).toBeUndefined();
  });

  it('refuses another origin, and cross-site or same-site requests, even with the token', () => {
    expect(proxyRefusal({ ...good, origin: 'http://evil.example' }, { hosts, token })).toMatchObject({ status: 403, code: 'CROSS_ORIGIN' });
    expect(proxyRefusal({ ...good, origin: 'http://127.0.0.1:9999' }, { hosts, token })?.code).toBe('CROSS_ORIGIN');
    expect(proxyRefusal({ ...good, origin: 'null' }, { hosts, token })?.code).toBe('CROSS_ORIGIN');
    for (const site of ['cross-site', 'same-site']) expect(proxyRefusal({ ...good, secFetchSite: site }, { hosts, token })?.code).toBe('CROSS_ORIGIN');
  });

  it('refuses a missing or wrong token, of any length', () => {
    for (const wrong of [undefined, '', 'a-token-of-this-ru', 'a-token-of-this-run!', 'A-TOKEN-OF-THIS-RUN']) {
      expect(proxyRefusal({ ...good, token: wrong }, { hosts, token })).toMatchObject({ status: 401, code: 'CONSOLE_TOKEN' });
    }
  });

  it('takes bodies as JSON only: a form posts text/plain without a preflight', () => {
    for (const contentType of [undefined, 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data']) {
      expect(proxyRefusal({ ...good, method: 'POST', contentType }, { hosts, token })?.status).toBe(415);
      expect(proxyRefusal({ ...good, method: 'PUT', contentType }, { hosts, token })?.status).toBe(415);
    }
    expect(proxyRefusal({ ...good, method: 'DELETE' }, { hosts, token })).toBeUndefined();
  });
});
