/**
 * What to answer to a GET or HEAD of a stored object, from the request's headers and the
 * object's size, ETag and date: RFC 9110's preconditions (§13.2.2, in its order) and
 * byte ranges (§14). Pure, so the local origin and the mirror decide alike whatever they
 * read from (S3, a disk).
 *
 * Ranges are parsed here rather than by `range-parser` because RFC 9110 separates two
 * cases that package folds into one: a Range that is *invalid* (`bytes=10-0`, `bytes=5`,
 * `bytes=abc`) is ignored and the whole object served (200); a valid one that does not
 * overlap the object is *unsatisfiable* (416). Only single ranges are served; a request
 * for several gets the whole object, which the RFC allows and which keeps a many-range
 * request from costing more than one read.
 */

export interface ObjectMeta {
  readonly size: number;
  /** The quoted entity tag, as S3 and HTTP write it (`"abc"`). */
  readonly etag?: string;
  readonly lastModified?: Date;
}

export type ObjectPlan =
  | { readonly status: 200 }
  /** `start` and `end` inclusive, as in Content-Range. */
  | { readonly status: 206; readonly start: number; readonly end: number }
  | { readonly status: 304 }
  | { readonly status: 412 }
  | { readonly status: 416 };

export type RequestHeaders = Readonly<Record<string, string | string[] | undefined>>;

function header(headers: RequestHeaders, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' ? value : undefined;
}

interface EntityTag {
  readonly weak: boolean;
  readonly opaque: string;
}

const ENTITY_TAG = /^\s*(W\/)?("[\x21\x23-\x7e\x80-\xff]*")\s*(?:,|$)/;

/** `*`, or the entity tags of an If-Match / If-None-Match list; undefined when malformed. */
function parseEntityTags(value: string): '*' | EntityTag[] | undefined {
  if (value.trim() === '*') return '*';
  const tags: EntityTag[] = [];
  let rest = value;
  while (rest.trim() !== '') {
    const found = ENTITY_TAG.exec(rest);
    if (!found?.[2]) return undefined;
    tags.push({ weak: found[1] !== undefined, opaque: found[2] });
    rest = rest.slice(found[0].length);
  }
  return tags;
}

function parseEntityTag(value: string): EntityTag | undefined {
  const tags = parseEntityTags(value);
  return Array.isArray(tags) && tags.length === 1 ? tags[0] : undefined;
}

function currentTag(meta: ObjectMeta): EntityTag | undefined {
  return meta.etag === undefined ? undefined : parseEntityTag(meta.etag);
}

function strongMatch(a: EntityTag, b: EntityTag): boolean {
  return !a.weak && !b.weak && a.opaque === b.opaque;
}

function weakMatch(a: EntityTag, b: EntityTag): boolean {
  return a.opaque === b.opaque;
}

function matchesList(value: string, meta: ObjectMeta, compare: (a: EntityTag, b: EntityTag) => boolean): boolean {
  const tags = parseEntityTags(value);
  if (tags === '*') return true; // the object exists, or we would not be here
  const current = currentTag(meta);
  return tags !== undefined && current !== undefined && tags.some((tag) => compare(tag, current));
}

/** An HTTP-date, to the second; undefined when it is not one. */
function parseDate(value: string): number | undefined {
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : undefined;
}

function seconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}

type ParsedRange = { readonly kind: 'ignore' } | { readonly kind: 'unsatisfiable' } | { readonly kind: 'range'; readonly start: number; readonly end: number };

const INT_RANGE = /^(\d+)-(\d*)$/;
const SUFFIX_RANGE = /^-(\d+)$/;

/** RFC 9110 §14.1.1 and §14.2 for one representation of `size` bytes. */
export function parseRange(value: string, size: number): ParsedRange {
  const unit = /^bytes=(.*)$/i.exec(value.trim());
  if (!unit) return { kind: 'ignore' }; // a unit we do not know: MUST be ignored
  const specs = (unit[1] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (specs.length === 0) return { kind: 'ignore' };
  const ranges: Array<{ start: number; end: number } | 'unsatisfiable'> = [];
  for (const spec of specs) {
    const int = INT_RANGE.exec(spec);
    const suffix = SUFFIX_RANGE.exec(spec);
    if (int) {
      const first = Number(int[1]);
      const last = int[2] === '' ? Infinity : Number(int[2]);
      if (last < first) return { kind: 'ignore' }; // invalid range-set
      ranges.push(first < size ? { start: first, end: Math.min(last, size - 1) } : 'unsatisfiable');
    } else if (suffix) {
      const length = Number(suffix[1]);
      if (length === 0) ranges.push('unsatisfiable');
      else if (size === 0) return { kind: 'ignore' }; // nothing to take the last bytes of: send it whole
      else ranges.push({ start: Math.max(0, size - length), end: size - 1 });
    } else {
      return { kind: 'ignore' };
    }
  }
  if (ranges.every((r) => r === 'unsatisfiable')) return { kind: 'unsatisfiable' };
  if (ranges.length > 1) return { kind: 'ignore' };
  const [only] = ranges;
  return only === undefined || only === 'unsatisfiable' ? { kind: 'unsatisfiable' } : { kind: 'range', ...only };
}

/** If-Range (§13.1.5): the range applies only to the representation the client has part of. */
function ifRangeHolds(value: string, meta: ObjectMeta): boolean {
  const trimmed = value.trim();
  if (trimmed.startsWith('"') || trimmed.startsWith('W/')) {
    const tag = parseEntityTag(trimmed);
    const current = currentTag(meta);
    return tag !== undefined && current !== undefined && strongMatch(tag, current);
  }
  const date = parseDate(trimmed);
  return date !== undefined && meta.lastModified !== undefined && seconds(meta.lastModified) === date;
}

export function planObjectResponse(method: string, headers: RequestHeaders, meta: ObjectMeta): ObjectPlan {
  const ifMatch = header(headers, 'if-match');
  const ifUnmodifiedSince = header(headers, 'if-unmodified-since');
  if (ifMatch !== undefined) {
    if (!matchesList(ifMatch, meta, strongMatch)) return { status: 412 };
  } else if (ifUnmodifiedSince !== undefined && meta.lastModified) {
    const date = parseDate(ifUnmodifiedSince);
    if (date !== undefined && seconds(meta.lastModified) > date) return { status: 412 };
  }

  const ifNoneMatch = header(headers, 'if-none-match');
  const ifModifiedSince = header(headers, 'if-modified-since');
  if (ifNoneMatch !== undefined) {
    if (matchesList(ifNoneMatch, meta, weakMatch)) return { status: 304 };
  } else if (ifModifiedSince !== undefined && meta.lastModified) {
    const date = parseDate(ifModifiedSince);
    if (date !== undefined && seconds(meta.lastModified) <= date) return { status: 304 };
  }

  // Range is defined for GET only (§14.2); HEAD gets the whole representation's headers.
  const range = header(headers, 'range');
  if (method !== 'GET' || range === undefined) return { status: 200 };
  const ifRange = header(headers, 'if-range');
  if (ifRange !== undefined && !ifRangeHolds(ifRange, meta)) return { status: 200 };
  const parsed = parseRange(range, meta.size);
  if (parsed.kind === 'ignore') return { status: 200 };
  if (parsed.kind === 'unsatisfiable') return { status: 416 };
  return { status: 206, start: parsed.start, end: parsed.end };
}

/** Whether a GET will need the object's metadata before it opens the body (ranges are resolved against the size). */
export function needsMetadataFirst(method: string, headers: RequestHeaders): boolean {
  return method !== 'GET' || header(headers, 'range') !== undefined;
}

/** The headers a plan's answer carries about the object itself (the caller adds type and caching). */
export function planHeaders(plan: ObjectPlan, meta: ObjectMeta): Record<string, string> {
  const headers: Record<string, string> = { 'accept-ranges': 'bytes' };
  if (meta.etag !== undefined) headers.etag = meta.etag;
  if (meta.lastModified !== undefined) headers['last-modified'] = meta.lastModified.toUTCString();
  if (plan.status === 200) headers['content-length'] = String(meta.size);
  if (plan.status === 206) {
    headers['content-length'] = String(plan.end - plan.start + 1);
    headers['content-range'] = `bytes ${plan.start}-${plan.end}/${meta.size}`;
  }
  if (plan.status === 416) headers['content-range'] = `bytes */${meta.size}`;
  return headers;
}
