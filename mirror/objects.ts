/**
 * What the mirror serves under `/metadata/*` and `/targets/*`, as an ObjectSource for
 * lib/http/serve-object.ts (the code the local origin serves S3 with): metadata files as
 * the upstream sent them, targets from the content store by the name consistent snapshots
 * give them, and only the targets of the versions the mirror holds.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { cacheControlFor, metadataSpace, targetsSpace } from '#lib/definitions/bucket.ts';
import type { ObjectSource, ReadOptions, StoredObject } from '#lib/http/serve-object.ts';
import { storePath } from '../agent/file-store.ts';
import type { Served } from './state.ts';
import { paths } from './state.ts';

/** Reads of 1 MiB, not Node's 64 KiB: a quarter of the system calls and stream turns per target (docs/mirror.md, "Sizing"). */
const READ_CHUNK_BYTES = 1 << 20;

interface Located {
  readonly file: string;
  readonly etag: string | undefined;
  readonly contentType: string;
}

/** A metadata file's name: `timestamp.json`, `12.snapshot.json`, one segment, no dot segment. */
const METADATA_NAME = /^(?!\.)[A-Za-z0-9._-]{1,240}$/;

export function mirrorObjects(dir: string, served: () => Served | undefined): ObjectSource {
  function locate(key: string): Located | undefined {
    if (key.startsWith(metadataSpace.prefix)) {
      const name = key.slice(metadataSpace.prefix.length);
      // The path guard has normalised and refused dot segments already; this keeps the rest
      // of the data dir (the license key in mirror.json) out of reach even if it had not.
      if (!METADATA_NAME.test(name)) return undefined;
      return { file: join(paths(dir).metadata, name), etag: undefined, contentType: 'application/json' };
    }
    if (key.startsWith(targetsSpace.prefix)) {
      const target = served()?.targets[key.slice(targetsSpace.prefix.length)];
      // A content-addressed file: its hash is its tag.
      return target && { file: storePath(dir, target.sha256), etag: `"${target.sha256}"`, contentType: 'application/octet-stream' };
    }
    return undefined;
  }

  async function metaOf(key: string, located: Located): Promise<StoredObject | undefined> {
    try {
      const info = await stat(located.file);
      if (!info.isFile()) return undefined;
      return {
        size: info.size,
        etag: located.etag ?? `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`,
        lastModified: info.mtime,
        contentType: located.contentType,
        cacheControl: cacheControlFor(key),
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  return {
    async stat(key) {
      const located = locate(key);
      return located && metaOf(key, located);
    },
    async read(key, options: ReadOptions = {}) {
      const located = locate(key);
      const meta = located && (await metaOf(key, located));
      if (!located || !meta) return undefined;
      if (options.ifMatch !== undefined && meta.etag !== options.ifMatch) return 'changed';
      const body = createReadStream(located.file, { highWaterMark: READ_CHUNK_BYTES, ...(options.range && { start: options.range.start, end: options.range.end }) });
      return { meta, body };
    },
  };
}
