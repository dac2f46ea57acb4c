/**
 * SigV4 for the admin API, on both ends: the CLI signs its requests (service
 * `execute-api`, as API Gateway's IAM authorizer expects), and the local origin checks
 * them with the local stack's admin credentials, the way the IAM authorizer does in
 * the cloud. Both sides use the AWS SDK's own signer, so they canonicalize alike.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface SignableRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers: Record<string, string>;
  readonly body?: string;
}

/** The service API Gateway's IAM authorizer expects in a SigV4 credential scope. */
export const API_GATEWAY_SERVICE = 'execute-api';
/** How far a request's x-amz-date may be from now, as AWS allows. */
const MAX_SKEW_MS = 15 * 60 * 1000;

function queryObject(url: URL): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  for (const [name, value] of url.searchParams) {
    const existing = query[name];
    query[name] = existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  return query;
}

/** The signer's view of a request: the same on both ends, so both canonicalize alike. */
function httpRequest(request: SignableRequest, headers: Record<string, string>) {
  const { url } = request;
  return {
    method: request.method,
    protocol: url.protocol,
    hostname: url.hostname,
    ...(url.port && { port: Number(url.port) }),
    path: url.pathname,
    query: queryObject(url),
    headers,
    ...(request.body !== undefined && { body: request.body }),
  };
}

function signer(credentials: Credentials, region: string, service = API_GATEWAY_SERVICE) {
  return new SignatureV4({ credentials, region, service, sha256: Hash.bind(null, 'sha256') });
}

/** Signs a request; returns the headers to send (host, x-amz-date, authorization, ...). */
export async function signRequest(request: SignableRequest, credentials: Credentials, region: string, now = new Date()): Promise<Record<string, string>> {
  const signed = await signer(credentials, region).sign(httpRequest(request, { ...request.headers, host: request.url.host }), { signingDate: now });
  return signed.headers;
}

export type SigV4Verdict = { ok: true; accessKeyId: string } | { ok: false; reason: string };

const AUTHORIZATION = /^AWS4-HMAC-SHA256 Credential=([^/\s,]+)\/(\d{8})\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/;

/** The credential scope a verifier accepts: the region and service of the API it guards. */
export interface SigningScope {
  readonly region: string;
  readonly service: string;
}

/**
 * Checks a SigV4-signed request against one set of credentials (the local admin's) and
 * the scope of the API that received it: a signature made for another region or service
 * is refused, as AWS refuses it, even though it is valid for that scope.
 */
export async function verifySignedRequest(request: SignableRequest, credentials: Credentials, expected: SigningScope, now = new Date()): Promise<SigV4Verdict> {
  const header = request.headers.authorization ?? '';
  const match = AUTHORIZATION.exec(header);
  if (!match) return { ok: false, reason: 'missing or malformed SigV4 Authorization header' };
  const [, accessKeyId = '', date = '', region = '', service = '', signedHeaders = '', signature = ''] = match;
  if (accessKeyId !== credentials.accessKeyId) return { ok: false, reason: 'unknown access key' };
  if (region !== expected.region) return { ok: false, reason: `signed for region ${region}, not ${expected.region}` };
  if (service !== expected.service) return { ok: false, reason: `signed for service ${service}, not ${expected.service}` };
  const amzDate = request.headers['x-amz-date'] ?? '';
  const dateMatch = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  if (!dateMatch || !amzDate.startsWith(date)) return { ok: false, reason: 'missing or malformed x-amz-date' };
  const signingDate = new Date(`${dateMatch[1]}-${dateMatch[2]}-${dateMatch[3]}T${dateMatch[4]}:${dateMatch[5]}:${dateMatch[6]}Z`);
  if (Math.abs(signingDate.getTime() - now.getTime()) > MAX_SKEW_MS) return { ok: false, reason: 'request time too far from now' };
  const names = signedHeaders.split(';');
  if (!names.includes('host')) return { ok: false, reason: 'host is not signed' };
  const headers: Record<string, string> = {};
  for (const name of names) {
    const value = request.headers[name];
    if (value === undefined) return { ok: false, reason: `signed header ${name} is missing` };
    headers[name] = value;
  }
  // The signer trusts a signed x-amz-content-sha256 as the payload's hash; so must we
  // check that it is the hash of the body that actually came.
  const declaredHash = headers['x-amz-content-sha256'];
  if (declaredHash !== undefined && declaredHash !== createHash('sha256').update(request.body ?? '').digest('hex')) {
    return { ok: false, reason: 'x-amz-content-sha256 does not match the body' };
  }
  const recomputed = await signer(credentials, expected.region, expected.service).sign(httpRequest(request, headers), { signingDate });
  const expectedSignature = /Signature=([0-9a-f]{64})/.exec(recomputed.headers.authorization ?? '')?.[1] ?? '';
  const ok = expectedSignature.length === 64 && timingSafeEqual(Buffer.from(expectedSignature), Buffer.from(signature));
  return ok ? { ok: true, accessKeyId } : { ok: false, reason: 'signature does not match' };
}
