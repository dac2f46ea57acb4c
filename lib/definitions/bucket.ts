/**
 * The signature bucket's layout, defined once for the CDK stacks (bucket policy,
 * CloudFront behaviours), the local origin and the publishing code.
 *
 * Everything an agent downloads lives under two prefixes that map one to one onto
 * URL paths: `/metadata/*` (TUF metadata, public) and `/targets/*` (signature files,
 * CloudFront signed URL required). The bucket itself is private in every case.
 */

/** The local stack's bucket name (CloudFormation generates the cloud one). */
export const localBucketName = 'signet-signatures';

export interface PathSpace {
  /** Object key prefix in the bucket, which is also the URL path prefix without its leading `/`. */
  readonly prefix: string;
  /** CloudFront path pattern for the behaviour that serves it. */
  readonly pathPattern: string;
  /** Whether a download needs a CloudFront signed URL. */
  readonly signedUrlRequired: boolean;
}

export const metadataSpace: PathSpace = {
  prefix: 'metadata/',
  pathPattern: '/metadata/*',
  signedUrlRequired: false,
};

/** The one object that changes in place: what every client polls. */
export const timestampKey = `${metadataSpace.prefix}timestamp.json`;

export const targetsSpace: PathSpace = {
  prefix: 'targets/',
  pathPattern: '/targets/*',
  signedUrlRequired: true,
};

export const pathSpaces: readonly PathSpace[] = [metadataSpace, targetsSpace];

/**
 * Metadata written before a release's commit point, under unique names, so two
 * publishers racing for the same version number never overwrite each other's files.
 * Never served (no CloudFront behaviour, not in the bucket policy); expired by a
 * lifecycle rule after `stagingExpiryDays`.
 */
export const stagingPrefix = 'staging/';
export const stagingExpiryDays = 7;

/**
 * Replica views: what a replica region may serve as `metadata/timestamp.json`. When the
 * deployment has replica regions, the primary writes each timestamp.json it publishes a
 * second time here, under its own version, with the root version of that moment
 * (lib/releases/replication.ts); S3 replication carries it to every replica bucket, where
 * the promoter copies it to the served key once everything it names has arrived. Never
 * served (no behaviour, not in the bucket policy); expired after `replicaViewExpiryDays`.
 */
export const replicaViewPrefix = 'replication/views/';
export const replicaViewExpiryDays = 7;

/**
 * The key prefixes S3 replication copies to replica buckets: targets, every versioned
 * metadata file, the replica views. Not `metadata/timestamp.json`, the one mutable
 * pointer: S3 replication keeps no order, so a replicated timestamp could name a snapshot
 * that has not arrived. A replication filter can include by prefix but not exclude, and
 * every other metadata name starts with its TUF version (1 or more, no leading zero:
 * `N.root.json`, `N.targets.json`, `N.snapshot.json`), hence one prefix per leading digit.
 */
export const replicatedPrefixes: readonly string[] = [
  targetsSpace.prefix,
  ...['1', '2', '3', '4', '5', '6', '7', '8', '9'].map((digit) => `${metadataSpace.prefix}${digit}`),
  replicaViewPrefix,
];

/**
 * Limits every object path is held to at the edge (lib/cdn/viewer-request.js enforces
 * them; a test keeps the two equal). A key: S3's own limit. A segment: longer than any
 * name the service stores (193: `<64 hex>.<128-character file name>`), and short enough
 * that stores keeping a segment as a file name, with a suffix of their own (s3rver adds
 * up to 22 characters, the mirror `.partial`), stay within filesystems' 255 bytes.
 */
export const maxKeyLength = 1024;
export const maxSegmentLength = 200;

/** Path pattern of the API behaviour in CloudFront and of the local origin's handler routing. */
export const apiPathPattern = '/v1/*';

/**
 * Cache-Control for an object, set on the object at upload so S3, CloudFront and the
 * local origin all serve the same header. Only `timestamp.json` changes in place; every
 * other metadata file is versioned (`N.targets.json`) and every target is content
 * addressed (`<sha256>.<name>`), so they can be cached for a year.
 */
export function cacheControlFor(key: string): string {
  if (key === timestampKey) return 'public, max-age=60';
  return 'public, max-age=31536000, immutable';
}
