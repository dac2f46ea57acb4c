/** The release functions' shared wiring: clients, stores and signers, created once per container. */
import { S3Client } from '@aws-sdk/client-s3';
import { dynamo } from '#lib/aws/clients.ts';
import { s3ObjectStore } from '#lib/aws/objects.ts';
import { bucketName, tableConfig } from '#lib/config.ts';
import { onlineSigners } from '#lib/tuf/online-signers.ts';
import type { RepositoryDeps } from './repository.ts';
import { ReleaseStore } from './store.ts';

let deps: Promise<RepositoryDeps> | undefined;

export function repositoryDeps(): Promise<RepositoryDeps> {
  deps ??= (async () => ({
    store: new ReleaseStore(dynamo(), tableConfig().mainTable),
    objects: s3ObjectStore(new S3Client({ maxAttempts: 3 }), bucketName()),
    signers: await onlineSigners(),
    now: () => new Date(),
  }))();
  return deps;
}
