/**
 * The CloudFront Function of viewer-request.js, for the CDK stack (its source text) and
 * for Node servers that stand where CloudFront stands (the local origin, the mirror): the
 * same source, compiled once in a bare context, called with the event CloudFront builds.
 * So the path defence the cloud runs is the one the local tests exercise.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Script, createContext } from 'node:vm';

export const viewerRequestPath = fileURLToPath(new URL('./viewer-request.js', import.meta.url));

/** The function's code as CloudFront gets it. */
export const viewerRequestSource = readFileSync(viewerRequestPath, 'utf8');

/** The parts of a CloudFront Functions viewer-request event the guard reads. */
export interface ViewerRequestEvent {
  readonly version: '1.0';
  readonly context: { readonly eventType: 'viewer-request' };
  readonly viewer: { readonly ip: string };
  readonly request: { method: string; uri: string; querystring: Record<string, unknown>; headers: Record<string, unknown> };
}

/** A response the function generates instead of passing the request on. */
export interface ViewerResponse {
  readonly statusCode: number;
  readonly statusDescription?: string;
  readonly headers?: Record<string, { readonly value: string }>;
  readonly body?: { readonly encoding: 'text'; readonly data: string };
}

type Handler = (event: ViewerRequestEvent) => ViewerRequestEvent['request'] | ViewerResponse;

// A context of its own: the function sees no Node globals, as at the edge.
const sandbox = createContext({});
const runHandler = new Script(`${viewerRequestSource}\nhandler;`, { filename: viewerRequestPath }).runInContext(sandbox) as Handler;

/** The constants the function enforces, read from its own code (a test keeps them equal to the bucket layout's). */
export const viewerRequestLimits = new Script('({ maxKeyLength: MAX_KEY_LENGTH, maxSegmentLength: MAX_SEGMENT_LENGTH })').runInContext(sandbox) as {
  maxKeyLength: number;
  maxSegmentLength: number;
};

export type PathVerdict =
  | { readonly ok: true; /** The decoded, canonical path (`/targets/p/x.sig`). */ readonly path: string }
  | { readonly ok: false; readonly response: ViewerResponse };

/**
 * Runs the guard on a raw request path (as received, still percent-encoded, no query).
 * Every object request goes through here before anything else looks at its path.
 */
export function guardObjectPath(rawPath: string, method = 'GET', viewerIp = '127.0.0.1'): PathVerdict {
  const result = runHandler({
    version: '1.0',
    context: { eventType: 'viewer-request' },
    viewer: { ip: viewerIp },
    request: { method, uri: rawPath, querystring: {}, headers: {} },
  });
  if ('statusCode' in result) return { ok: false, response: result };
  return { ok: true, path: result.uri };
}
