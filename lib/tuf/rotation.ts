/**
 * Root rotation (TUF 1.0 §5.3.4): root N+1 is trusted by a client that holds root N
 * only if it carries signatures from a threshold of N's root keys AND of its own. So
 * the new root is signed by the old root key and the new one.
 */
import { Metadata, Root } from '@tufjs/models';
import type { Key } from '@tufjs/models';
import type { RoleName } from './metadata.ts';
import { EXPIRY_DAYS, expiresIn, signMetadata } from './metadata.ts';
import type { Signer } from './signer.ts';

export function nextRoot(current: Root, replacements: Partial<Record<RoleName, readonly Key[]>>, now: Date): Metadata<Root> {
  const json = current.toJSON() as {
    version: number;
    expires: string;
    keys: Record<string, unknown>;
    roles: Record<string, { keyids: string[]; threshold: number }>;
  };
  json.version = current.version + 1;
  json.expires = expiresIn(EXPIRY_DAYS.root, now);
  for (const [role, keys] of Object.entries(replacements) as Array<[RoleName, readonly Key[]]>) {
    const roleJson = json.roles[role];
    if (!roleJson) throw new Error(`root has no ${role} role`);
    roleJson.keyids = keys.map((k) => k.keyID);
    roleJson.threshold = Math.min(roleJson.threshold, keys.length);
    for (const key of keys) json.keys[key.keyID] = key.toJSON();
  }
  // Drop keys no role uses any more.
  const used = new Set(Object.values(json.roles).flatMap((r) => r.keyids));
  for (const keyId of Object.keys(json.keys)) if (!used.has(keyId)) delete json.keys[keyId];
  return new Metadata(Root.fromJSON(json as never));
}

export async function signRotatedRoot(root: Metadata<Root>, oldRootSigners: readonly Signer[], newRootSigners: readonly Signer[]): Promise<Metadata<Root>> {
  const signers = new Map<string, Signer>();
  for (const signer of [...oldRootSigners, ...newRootSigners]) signers.set(signer.key.keyID, signer);
  return signMetadata(root, [...signers.values()]);
}
