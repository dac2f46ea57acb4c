import { describe, expect, it } from 'vitest';
import { parseRange, planHeaders, planObjectResponse } from '#lib/http/object-response.ts';

const modified = new Date('2026-11-30T10:00:00Z');
const six = { size: 6, etag: '"abc"', lastModified: modified };

describe('byte ranges (RFC 9110 §14)', () => {
  it.each([
    ['bytes=0-3', { kind: 'range', start: 0, end: 3 }],
    ['bytes=2-', { kind: 'range', start: 2, end: 5 }],
    ['bytes=-3', { kind: 'range', start: 3, end: 5 }], // the last three bytes, not the first four
    ['bytes=-10', { kind: 'range', start: 0, end: 5 }], // longer than the object: all of it
    ['bytes=4-99', { kind: 'range', start: 4, end: 5 }],
    ['BYTES=1-1', { kind: 'range', start: 1, end: 1 }],
    ['bytes= 1-2 ,', { kind: 'range', start: 1, end: 2 }], // OWS and empty list elements are allowed
    ['bytes=6-', { kind: 'unsatisfiable' }],
    ['bytes=-0', { kind: 'unsatisfiable' }],
    ['bytes=99999999999999999999-', { kind: 'unsatisfiable' }],
    ['bytes=10-0', { kind: 'ignore' }], // invalid: last < first
    ['bytes=5', { kind: 'ignore' }],
    ['bytes=abc', { kind: 'ignore' }],
    ['bytes=', { kind: 'ignore' }],
    ['bytes=1-2-3', { kind: 'ignore' }],
    ['bytes=0x1-2', { kind: 'ignore' }],
    ['items=0-1', { kind: 'ignore' }], // a unit we do not know
    ['bytes=0-0,2-3', { kind: 'ignore' }], // several ranges: served whole
    ['bytes=0-0,7-9', { kind: 'ignore' }],
    ['bytes=7-8,9-', { kind: 'unsatisfiable' }],
  ])('%s on 6 bytes → %j', (header, expected) => {
    expect(parseRange(header, 6)).toEqual(expected);
  });

  it('serves an empty object whole whatever the suffix range asks', () => {
    expect(parseRange('bytes=-5', 0)).toEqual({ kind: 'ignore' });
    expect(parseRange('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' });
  });
});

describe('planning the answer to a GET or HEAD', () => {
  const plan = (headers: Record<string, string>, method = 'GET') => planObjectResponse(method, headers, six);

  it('answers a plain GET with 200', () => {
    expect(plan({})).toEqual({ status: 200 });
  });

  it('answers a satisfiable range with 206 and an unsatisfiable one with 416', () => {
    expect(plan({ range: 'bytes=-3' })).toEqual({ status: 206, start: 3, end: 5 });
    expect(plan({ range: 'bytes=6-' })).toEqual({ status: 416 });
  });

  it('ignores Range on HEAD (ranges are defined for GET only)', () => {
    expect(plan({ range: 'bytes=0-1' }, 'HEAD')).toEqual({ status: 200 });
  });

  it('applies the range only when If-Range still names this representation', () => {
    expect(plan({ range: 'bytes=0-1', 'if-range': '"abc"' })).toEqual({ status: 206, start: 0, end: 1 });
    expect(plan({ range: 'bytes=0-1', 'if-range': '"old"' })).toEqual({ status: 200 });
    expect(plan({ range: 'bytes=0-1', 'if-range': 'W/"abc"' })).toEqual({ status: 200 }); // weak tags never match If-Range
    expect(plan({ range: 'bytes=0-1', 'if-range': modified.toUTCString() })).toEqual({ status: 206, start: 0, end: 1 });
    expect(plan({ range: 'bytes=0-1', 'if-range': new Date(modified.getTime() - 1000).toUTCString() })).toEqual({ status: 200 });
    expect(plan({ range: 'bytes=0-1', 'if-range': 'yesterday' })).toEqual({ status: 200 });
  });

  it('answers 304 to If-None-Match with the current tag (weak comparison) or *, and to a later If-Modified-Since', () => {
    expect(plan({ 'if-none-match': '"abc"' })).toEqual({ status: 304 });
    expect(plan({ 'if-none-match': 'W/"abc"' })).toEqual({ status: 304 });
    expect(plan({ 'if-none-match': '"x", "abc"' })).toEqual({ status: 304 });
    expect(plan({ 'if-none-match': '*' })).toEqual({ status: 304 });
    expect(plan({ 'if-none-match': '"x"' })).toEqual({ status: 200 });
    expect(plan({ 'if-modified-since': modified.toUTCString() })).toEqual({ status: 304 });
    expect(plan({ 'if-modified-since': new Date(modified.getTime() - 1000).toUTCString() })).toEqual({ status: 200 });
    // If-None-Match wins over If-Modified-Since
    expect(plan({ 'if-none-match': '"x"', 'if-modified-since': modified.toUTCString() })).toEqual({ status: 200 });
  });

  it('answers 412 when If-Match or If-Unmodified-Since does not hold, before anything else', () => {
    expect(plan({ 'if-match': '"x"', 'if-none-match': '"abc"' })).toEqual({ status: 412 });
    expect(plan({ 'if-match': 'W/"abc"' })).toEqual({ status: 412 }); // strong comparison
    expect(plan({ 'if-match': '"abc"', range: 'bytes=0-0' })).toEqual({ status: 206, start: 0, end: 0 });
    expect(plan({ 'if-unmodified-since': new Date(modified.getTime() - 1000).toUTCString() })).toEqual({ status: 412 });
    expect(plan({ 'if-unmodified-since': modified.toUTCString() })).toEqual({ status: 200 });
  });

  it('treats malformed validators as not matching, never as an error', () => {
    expect(plan({ 'if-none-match': 'abc' })).toEqual({ status: 200 });
    expect(plan({ 'if-match': '"abc' })).toEqual({ status: 412 });
    expect(plan({ 'if-modified-since': 'not a date' })).toEqual({ status: 200 });
  });
});

describe('the headers of a planned answer', () => {
  it('describes a 206 part, a 416 and a whole object', () => {
    expect(planHeaders({ status: 206, start: 3, end: 5 }, six)).toMatchObject({ 'content-range': 'bytes 3-5/6', 'content-length': '3', etag: '"abc"' });
    expect(planHeaders({ status: 416 }, six)).toMatchObject({ 'content-range': 'bytes */6' });
    expect(planHeaders({ status: 200 }, six)).toMatchObject({ 'content-length': '6', 'accept-ranges': 'bytes', 'last-modified': modified.toUTCString() });
  });
});
