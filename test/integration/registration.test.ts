import { randomUUID } from 'node:crypto';
import { deflateSync, gzipSync } from 'node:zlib';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { localTableName, mainTable } from '#lib/definitions/tables.ts';
import { agentKey } from '#lib/licensing/keys.ts';
import type { LicenseView } from '#lib/licensing/admin.ts';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { readAdminCredentials } from '#local/admin-credentials.ts';
import { localCredentials } from '#local/s3-local.ts';
import { runSignet } from '#test/support/cli.ts';
import { admin, createTestLicense, register, registrationFor, self, stackInfo } from '#test/support/licensing.ts';

const db = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: stackInfo().dynamodbEndpoint, region: 'us-east-1', credentials: localCredentials }));
afterAll(() => db.destroy());

async function showLicense(licenseId: string) {
  return (await admin()).call<{ license: LicenseView; seatHolders: Array<{ agentId: string }> }>('GET', `/v1/admin/licenses/${licenseId}`);
}

describe('POST /v1/agents registers an agent against its license', () => {
  it('takes a seat and answers 201 with an agent id, a token and the poll interval', async () => {
    const { licenseKey, license } = await createTestLicense();
    const result = await register(registrationFor(licenseKey, { hostname: 'pc-1.example', agentVersion: '1.0.0' }));
    expect(result.status).toBe(201);
    expect(result.body).toEqual({ agentId: expect.stringMatching(/^[0-9a-f]{32}$/), token: expect.stringMatching(/^sgt1\./), pollSeconds: 900 });
    expect((await showLicense(license.licenseId)).license.seatsUsed).toBe(1);
  });

  it('gives the same machine a fresh token with 200 and no new seat; the old token stops working', async () => {
    const { licenseKey, license } = await createTestLicense();
    const body = registrationFor(licenseKey);
    const first = await register(body);
    const second = await register(body);
    expect(second.status).toBe(200);
    expect(second.body.agentId).toBe(first.body.agentId);
    expect(second.body.token).not.toBe(first.body.token);
    expect((await self(String(first.body.token))).status).toBe(401);
    expect((await self(String(second.body.token))).status).toBe(200);
    expect((await showLicense(license.licenseId)).license.seatsUsed).toBe(1);
  });

  it('counts one seat per product on the same machine', async () => {
    const { licenseKey, license } = await createTestLicense({ products: ['demo-av', 'demo-vuln'] });
    const machineId = 'shared-machine';
    expect((await register(registrationFor(licenseKey, { machineId }))).status).toBe(201);
    expect((await register(registrationFor(licenseKey, { machineId, product: 'demo-vuln' }))).status).toBe(201);
    expect((await showLicense(license.licenseId)).license.seatsUsed).toBe(2);
  });

  it('accepts the key typed in lower case and without dashes', async () => {
    const { licenseKey } = await createTestLicense();
    const sloppy = licenseKey.toLowerCase().replace(/-/g, '');
    expect((await register(registrationFor(sloppy))).status).toBe(201);
  });
});

describe('registration refusals, each with its own contract code', () => {
  it('refuses an unknown key with 401 LICENSE_INVALID', async () => {
    const result = await register(registrationFor('SIG-AAAAA-BBBBB-CCCCC-DDDDD-EEEEE-FFFFF-GG'));
    expect(result.status).toBe(401);
    expect(result.body.error?.code).toBe('LICENSE_INVALID');
  });

  it('refuses a suspended license with 403 LICENSE_SUSPENDED, and registers again once resumed', async () => {
    const { licenseKey, license } = await createTestLicense();
    const client = await admin();
    await client.call('POST', `/v1/admin/licenses/${license.licenseId}/suspend`);
    const refused = await register(registrationFor(licenseKey));
    expect(refused.status).toBe(403);
    expect(refused.body.error?.code).toBe('LICENSE_SUSPENDED');
    await client.call('POST', `/v1/admin/licenses/${license.licenseId}/resume`);
    expect((await register(registrationFor(licenseKey))).status).toBe(201);
  });

  it('refuses a revoked license with 403 LICENSE_REVOKED, for good', async () => {
    const { licenseKey, license } = await createTestLicense();
    const client = await admin();
    await client.call('POST', `/v1/admin/licenses/${license.licenseId}/revoke`);
    expect((await register(registrationFor(licenseKey))).body.error?.code).toBe('LICENSE_REVOKED');
    await expect(client.call('POST', `/v1/admin/licenses/${license.licenseId}/resume`)).rejects.toThrow(/CONFLICT/);
  });

  it('refuses an expired license with 403 LICENSE_EXPIRED', async () => {
    const { licenseKey } = await createTestLicense({ expires: new Date(Date.now() + 1500).toISOString() });
    await new Promise((r) => setTimeout(r, 1600));
    const result = await register(registrationFor(licenseKey));
    expect(result.status).toBe(403);
    expect(result.body.error?.code).toBe('LICENSE_EXPIRED');
  });

  it('refuses a product the license does not entitle with 403 PRODUCT_NOT_ENTITLED', async () => {
    const { licenseKey } = await createTestLicense();
    const result = await register(registrationFor(licenseKey, { product: 'other-product' }));
    expect(result.status).toBe(403);
    expect(result.body.error?.code).toBe('PRODUCT_NOT_ENTITLED');
  });

  it('refuses a blacklisted computer with 403 COMPUTER_BLACKLISTED, and accepts it once removed', async () => {
    const { licenseKey } = await createTestLicense();
    const body = registrationFor(licenseKey);
    const client = await admin();
    await client.call('PUT', `/v1/admin/blacklist/${body.machineId}`, { reason: 'test' });
    const refused = await register(body);
    expect(refused.status).toBe(403);
    expect(refused.body.error?.code).toBe('COMPUTER_BLACKLISTED');
    await client.call('DELETE', `/v1/admin/blacklist/${body.machineId}`);
    expect((await register(body)).status).toBe(201);
  });

  it('refuses MB-1 with 403 COMPUTER_BLACKLISTED while mb-1 is blacklisted: machine ids compare in one case', async () => {
    const { licenseKey } = await createTestLicense();
    const lower = `mb-${randomUUID()}`;
    const client = await admin();
    await client.call('PUT', `/v1/admin/blacklist/${lower}`, {});
    const refused = await register(registrationFor(licenseKey, { machineId: lower.toUpperCase() }));
    expect(refused.status).toBe(403);
    expect(refused.body.error?.code).toBe('COMPUTER_BLACKLISTED');
  });

  it('blacklists and lifts a computer whatever the case the operator types its id in', async () => {
    const { licenseKey } = await createTestLicense();
    const body = registrationFor(licenseKey, { machineId: `mb-${randomUUID()}` });
    const client = await admin();
    expect(await client.call('PUT', `/v1/admin/blacklist/${body.machineId.toUpperCase()}`, {})).toEqual({ machineId: body.machineId, blacklisted: true });
    expect((await register(body)).body.error?.code).toBe('COMPUTER_BLACKLISTED');
    await client.call('DELETE', `/v1/admin/blacklist/${body.machineId.slice(0, 5).toUpperCase()}${body.machineId.slice(5)}`);
    expect((await register(body)).status).toBe(201);
  });

  it('registers MB-1 and mb-1 as one agent on one seat', async () => {
    const { licenseKey, license } = await createTestLicense();
    const machineId = `mb-${randomUUID()}`;
    const first = await register(registrationFor(licenseKey, { machineId: machineId.toUpperCase() }));
    const second = await register(registrationFor(licenseKey, { machineId }));
    expect([first.status, second.status]).toEqual([201, 200]);
    expect(second.body.agentId).toBe(first.body.agentId);
    expect((await showLicense(license.licenseId)).license.seatsUsed).toBe(1);
  });

  it('refuses a registration past the last seat with 409 SEATS_EXHAUSTED', async () => {
    const { licenseKey } = await createTestLicense({ seats: 1 });
    expect((await register(registrationFor(licenseKey))).status).toBe(201);
    const result = await register(registrationFor(licenseKey));
    expect(result.status).toBe(409);
    expect(result.body.error?.code).toBe('SEATS_EXHAUSTED');
  });
});

describe('input validation at the edge', () => {
  it.each<[unknown, string]>([
    [{ machineId: 'm', product: 'demo-av', os: 'linux', arch: 'x64' }, 'licenseKey: is required'],
    [{ licenseKey: 'k', machineId: 5, product: 'demo-av', os: 'linux', arch: 'x64' }, 'machineId: must be a string'],
    [{ licenseKey: 'k', machineId: 'm', product: 'Demo AV', os: 'linux', arch: 'x64' }, 'product: has characters or a form that is not allowed'],
    [{ licenseKey: 'k', machineId: 'm'.repeat(129), product: 'demo-av', os: 'linux', arch: 'x64' }, 'machineId: must be at most 128 characters'],
    [{ licenseKey: 'k', machineId: 'm', product: 'demo-av', os: 'linux', arch: 'x64', admin: true }, 'admin: is not a known field'],
    [[1, 2], 'body: must be a JSON object'],
    ...['\u0000', '\r\n', '\u001b[31m', '\u007f', '\u0085'].map((control) => [{ licenseKey: 'k', machineId: 'm', product: 'demo-av', os: 'linux', arch: 'x64', hostname: `pc-1${control}x` }, 'hostname: must not contain control characters'] as [unknown, string]),
    [{ licenseKey: 'SIG-\u0000', machineId: 'm', product: 'demo-av', os: 'linux', arch: 'x64' }, 'licenseKey: must not contain control characters'],
  ])('refuses %j with 400 INVALID_REQUEST naming the field', async (body, message) => {
    const result = await register(body);
    expect(result.status).toBe(400);
    expect(result.body.error).toEqual({ code: 'INVALID_REQUEST', message });
  });

  it('refuses a body over 16 KiB with 413 PAYLOAD_TOO_LARGE', async () => {
    const result = await register({ licenseKey: 'k'.repeat(20_000) });
    expect(result.status).toBe(413);
    expect(result.body.error?.code).toBe('PAYLOAD_TOO_LARGE');
  });

  async function post(headers: Record<string, string>, body: string | Buffer) {
    const response = await fetch(`${stackInfo().baseUrl}/v1/agents`, { method: 'POST', headers, body });
    return { status: response.status, body: (await response.json()) as { error?: { code: string; message: string } } };
  }

  it.each([
    ['declared charset=utf-16 (and sent so)', { 'content-type': 'application/json; charset=utf-16' }, 'utf16le'],
    ['declared charset=utf-16 but sent as UTF-8', { 'content-type': 'application/json; charset=utf-16' }, 'utf8'],
    ['declared Content-Encoding: gzip but sent plain', { 'content-type': 'application/json', 'content-encoding': 'gzip' }, 'utf8'],
    ['sent with Content-Encoding: gzip', { 'content-type': 'application/json', 'content-encoding': 'gzip' }, 'gzip'],
    ['sent with Content-Encoding: deflate', { 'content-type': 'application/json', 'content-encoding': 'deflate' }, 'deflate'],
  ] as const)('refuses a body %s with 415 UNSUPPORTED_MEDIA_TYPE instead of reading it as UTF-8', async (_what, headers, encoding) => {
    const { licenseKey } = await createTestLicense();
    const json = JSON.stringify(registrationFor(licenseKey));
    const bytes = encoding === 'gzip' ? gzipSync(json) : encoding === 'deflate' ? deflateSync(json) : Buffer.from(json, encoding);
    const result = await post(headers, bytes);
    expect(result.status).toBe(415);
    expect(result.body.error?.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it.each([
    ['charset=UTF-8', { 'content-type': 'application/json; charset=UTF-8' }],
    ['Content-Encoding: identity', { 'content-type': 'application/json', 'content-encoding': 'identity' }],
  ])('accepts a UTF-8 body declared with %s', async (_what, headers) => {
    const { licenseKey } = await createTestLicense();
    expect((await post(headers, JSON.stringify(registrationFor(licenseKey)))).status).toBe(201);
  });

  it('refuses a body that is not JSON with 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    const response = await fetch(`${stackInfo().baseUrl}/v1/agents`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
    expect(response.status).toBe(415);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });
});

describe('agent authentication on every call', () => {
  async function registeredAgent(seats = 5) {
    const { licenseKey, license } = await createTestLicense({ seats });
    const body = registrationFor(licenseKey);
    const result = await register(body);
    return { licenseKey, license, body, agentId: String(result.body.agentId), token: String(result.body.token) };
  }

  it('accepts a valid token', async () => {
    const { token, agentId } = await registeredAgent();
    const result = await self(token);
    expect(result.status).toBe(200);
    expect(result.body.agentId).toBe(agentId);
  });

  it.each([
    ['no header', undefined],
    ['a malformed token', 'Bearer nonsense'],
    ['a token with a changed secret', 'CHANGE'],
  ])('refuses %s with 401 INVALID_CREDENTIALS', async (_what, header) => {
    const { token } = await registeredAgent();
    const authorization = header === 'CHANGE' ? `Bearer ${token.slice(0, -1)}${token.endsWith('a') ? 'b' : 'a'}` : header;
    const response = await fetch(`${stackInfo().baseUrl}/v1/agents/self`, { headers: authorization ? { authorization } : {} });
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('INVALID_CREDENTIALS');
  });

  it('refuses the very next call after the license is suspended, and serves again once resumed', async () => {
    const { token, license } = await registeredAgent();
    const client = await admin();
    await client.call('POST', `/v1/admin/licenses/${license.licenseId}/suspend`);
    expect((await self(token)).body.error?.code).toBe('LICENSE_SUSPENDED');
    await client.call('POST', `/v1/admin/licenses/${license.licenseId}/resume`);
    expect((await self(token)).status).toBe(200);
  });

  it('refuses the very next call after the computer is blacklisted', async () => {
    const { token, body } = await registeredAgent();
    await (await admin()).call('PUT', `/v1/admin/blacklist/${body.machineId}`, {});
    const result = await self(token);
    expect(result.status).toBe(403);
    expect(result.body.error?.code).toBe('COMPUTER_BLACKLISTED');
  });

  it('refuses a revoked agent with 403 AGENT_REVOKED and gives its seat back', async () => {
    const { token, agentId, license } = await registeredAgent();
    await (await admin()).call('POST', `/v1/admin/agents/${agentId}/revoke`);
    const result = await self(token);
    expect(result.status).toBe(403);
    expect(result.body.error?.code).toBe('AGENT_REVOKED');
    expect((await showLicense(license.licenseId)).license.seatsUsed).toBe(0);
  });

  it('refuses the next call after the license is revoked', async () => {
    const { token, license } = await registeredAgent();
    await (await admin()).call('POST', `/v1/admin/licenses/${license.licenseId}/revoke`);
    expect((await self(token)).body.error?.code).toBe('LICENSE_REVOKED');
  });
});

describe('agent revocation holds until an operator lifts it', () => {
  async function revokedAgent() {
    const { licenseKey, license } = await createTestLicense();
    const body = registrationFor(licenseKey);
    const registered = await register(body);
    const agentId = String(registered.body.agentId);
    await (await admin()).call('POST', `/v1/admin/agents/${agentId}/revoke`);
    return { license, body, agentId, token: String(registered.body.token) };
  }

  it('refuses re-registration of a revoked agent with 403 AGENT_REVOKED and takes no seat', async () => {
    const { license, body, agentId } = await revokedAgent();
    const again = await register(body);
    expect(again.status).toBe(403);
    expect(again.body.error?.code).toBe('AGENT_REVOKED');
    expect(again.body.error?.message).toContain(agentId);
    expect((await showLicense(license.licenseId)).license.seatsUsed).toBe(0);
  });

  it('lets the computer register again after `signet agents unrevoke`: a new seat and token; the old token stays void', async () => {
    const { license, body, agentId, token } = await revokedAgent();
    const lifted = await runSignet(['agents', 'unrevoke', agentId, '--data-dir', stackInfo().dataDir, '--json']);
    expect(lifted.code).toBe(0);
    expect(JSON.parse(lifted.stdout)).toMatchObject({ agent: { agentId, status: 'unrevoked' } });

    const old = await self(token);
    expect(old.status).toBe(401);
    expect(old.body.error?.code).toBe('INVALID_CREDENTIALS');
    const again = await register(body);
    expect(again.status).toBe(201);
    expect(again.body.agentId).toBe(agentId);
    expect((await self(String(again.body.token))).status).toBe(200);
    expect((await showLicense(license.licenseId)).license.seatsUsed).toBe(1);
  });

  it('audits the lifting and refuses to unrevoke an agent that is not revoked (409) or unknown (404)', async () => {
    const { agentId } = await revokedAgent();
    const client = await admin();
    await client.call('POST', `/v1/admin/agents/${agentId}/unrevoke`);
    await expect(client.call('POST', `/v1/admin/agents/${agentId}/unrevoke`)).rejects.toThrow(/CONFLICT: the agent is unrevoked, not revoked/);
    await expect(client.call('POST', `/v1/admin/agents/${'0'.repeat(32)}/unrevoke`)).rejects.toThrow(/NOT_FOUND/);
    const audit = await client.call<{ entries: Array<{ action: string; subject: string }> }>('GET', '/v1/admin/audit');
    expect(audit.entries).toContainEqual(expect.objectContaining({ action: 'agent.unrevoke', subject: agentId }));
  });
});

describe('seat reclaim', () => {
  it('frees the seat of an agent silent longer than the license allows when another machine needs it', async () => {
    const { licenseKey, license } = await createTestLicense({ seats: 1, reclaimAfterDays: 1 });
    const silent = await register(registrationFor(licenseKey));
    // Arrange: the agent was last seen two days ago.
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000).toISOString();
    await db.send(
      new UpdateCommand({
        TableName: localTableName(mainTable),
        Key: agentKey(String(silent.body.agentId)),
        UpdateExpression: 'SET lastSeenAt = :t, gsi1sk = :sk',
        ExpressionAttributeValues: { ':t': twoDaysAgo, ':sk': `${twoDaysAgo}#${String(silent.body.agentId)}` },
      }),
    );
    const newcomer = await register(registrationFor(licenseKey));
    expect(newcomer.status).toBe(201);
    const old = await self(String(silent.body.token));
    expect(old.status).toBe(401);
    expect(old.body.error?.code).toBe('INVALID_CREDENTIALS');
    expect((await showLicense(license.licenseId)).license.seatsUsed).toBe(1);
  });

  it('does not reclaim a seat whose agent was seen recently', async () => {
    const { licenseKey } = await createTestLicense({ seats: 1, reclaimAfterDays: 1 });
    expect((await register(registrationFor(licenseKey))).status).toBe(201);
    expect((await register(registrationFor(licenseKey))).body.error?.code).toBe('SEATS_EXHAUSTED');
  });
});

describe('admin API authentication (SigV4)', () => {
  it('refuses an unsigned admin call with 403', async () => {
    const response = await fetch(`${stackInfo().baseUrl}/v1/admin/licenses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(response.status).toBe(403);
  });

  it.each([
    ['another region (eu-west-1)', 'eu-west-1', 'execute-api'],
    ['another service (s3)', 'us-east-1', 's3'],
  ])('refuses a call signed with the admin credentials for %s with 403; the stack\'s own scope passes', async (_what, region, service) => {
    const credentials = await readAdminCredentials(stackInfo().dataDir);
    const url = new URL(`${stackInfo().baseUrl}/v1/admin/licenses/${'0'.repeat(32)}`);
    const sign = async (r: string, s: string) => {
      const signer = new SignatureV4({ credentials, region: r, service: s, sha256: Hash.bind(null, 'sha256') });
      return (await signer.sign({ method: 'GET', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: url.pathname, query: {}, headers: { host: url.host } })).headers;
    };
    const refused = await fetch(url, { headers: await sign(region, service) });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('FORBIDDEN');
    const accepted = await fetch(url, { headers: await sign('us-east-1', 'execute-api') });
    expect(accepted.status).toBe(404); // past the SigV4 check: there is no such license
    await accepted.arrayBuffer();
  });

  it('has the CLI sign for the local stack\'s region whatever AWS_REGION says, and refuses --region for another', async () => {
    const { license } = await createTestLicense();
    const env = { ...process.env, AWS_REGION: 'eu-west-1', AWS_DEFAULT_REGION: 'eu-west-1' };
    const shown = await runSignet(['license', 'show', license.licenseId, '--data-dir', stackInfo().dataDir, '--json'], env);
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ license: { licenseId: license.licenseId } });
    const wrong = await runSignet(['license', 'show', license.licenseId, '--data-dir', stackInfo().dataDir, '--region', 'eu-west-1'], env);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain('a local stack accepts signatures for us-east-1 only');
  });

  it('refuses a call signed with the wrong secret with 403', async () => {
    const { signRequest } = await import('#lib/aws/sigv4.ts');
    const url = new URL(`${stackInfo().baseUrl}/v1/admin/licenses/${'0'.repeat(32)}`);
    const headers = await signRequest({ method: 'GET', url, headers: {} }, { accessKeyId: 'AKIAWRONGWRONGWRONG1', secretAccessKey: 'nope' }, 'us-east-1');
    expect((await fetch(url, { headers })).status).toBe(403);
  });
});
