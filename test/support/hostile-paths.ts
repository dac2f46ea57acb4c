/**
 * Hostile object paths and what the edge must do with each: the one table the
 * CloudFront Function's unit tests and the local origin's integration tests share.
 * `pass` paths name objects canonically (the third column: the canonical form, when the
 * path is encoded); 400 and 404 are the guard's refusals.
 */
import { maxKeyLength, maxSegmentLength } from '#lib/definitions/bucket.ts';

const target = `/targets/demo-av/${'a'.repeat(64)}.main.sig`;

export const pathTable: ReadonlyArray<readonly [string, 'pass' | 400 | 404, string?]> = [
  ['/metadata/timestamp.json', 'pass'],
  ['/metadata/3.root.json', 'pass'],
  [target, 'pass'],
  ['/metadata/%74imestamp.json', 'pass', '/metadata/timestamp.json'],
  // the probe's findings
  [`/metadata/%2e%2e${target}`, 400],
  [`/metadata/..%2f${target.slice(1)}`, 400],
  [`/metadata/%2e%2e%2f${target.slice(1)}`, 400],
  [`/metadata/%2E%2E%2F%2e%2e%2fsignet-signatures%2f${target.slice(1)}`, 400],
  [`/targets/demo-av/..%2fother-av/${'b'.repeat(64)}.small.txt`, 400],
  ['/metadata/timestamp.json%00', 400],
  // dot segments, plain and encoded
  [`/metadata/..${target}`, 400],
  [`/metadata/../${target.slice(1)}`, 400],
  ['/metadata/./timestamp.json', 400],
  ['/metadata/%2e/timestamp.json', 400],
  ['/targets/demo-av/.', 400],
  ['/targets/demo-av/..', 400],
  // separators and double encoding
  ['/metadata//timestamp.json', 400],
  ['/metadata/', 400],
  ['/targets/demo-av\\..\\other', 400],
  ['/targets/demo-av%5c..%5cother', 400],
  ['/targets/demo-av/%252e%252e/x', 400],
  ['/targets/demo-av%252fx', 400],
  ['/metadata/%zz', 400],
  ['/metadata/%e0%a4%a', 400],
  ['/metadata/%c0%ae%c0%ae/x', 400], // overlong UTF-8 for "..": not valid UTF-8
  ['/metadata/time stamp.json', 400],
  ['/metadata/timestamp.json%0d%0aX-Injected:%201', 400],
  ['/metadata/\u00e9.json', 400],
  ['metadata/timestamp.json', 400],
  // lengths
  [`/metadata/${'a'.repeat(maxSegmentLength)}`, 'pass'],
  [`/metadata/${'a'.repeat(maxSegmentLength + 1)}`, 404],
  [`/m/${'a/'.repeat(maxKeyLength / 2)}`, 404],
];

