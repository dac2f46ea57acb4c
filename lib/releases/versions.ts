/**
 * Release versions: one to four dot-separated whole numbers (`1.2.3`, `2026.11.21.1`),
 * compared number by number, so versions only ever go up in an order everyone can see.
 */
const VERSION = /^(0|[1-9]\d{0,9})(\.(0|[1-9]\d{0,9})){0,3}$/;

export function isVersion(value: string): boolean {
  return VERSION.test(value);
}

export function compareVersions(a: string, b: string): number {
  const left = a.split('.').map(Number);
  const right = b.split('.').map(Number);
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const diff = (left[i] ?? 0) - (right[i] ?? 0);
    if (diff !== 0) return diff < 0 ? -1 : 1;
  }
  return 0;
}

/** A sort key that orders like compareVersions: each part zero-padded to 10 digits, four parts. */
export function versionSortKey(version: string): string {
  const parts = version.split('.');
  while (parts.length < 4) parts.push('0');
  return parts.map((p) => p.padStart(10, '0')).join('.');
}
