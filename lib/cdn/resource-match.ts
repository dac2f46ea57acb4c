/**
 * CloudFront's `Resource` wildcards: `*` matches zero or more characters and `?` exactly
 * one, anywhere in the string; everything else matches itself, case-sensitively.
 *
 * A two-pointer matcher with a single backtrack point rather than a RegExp: it needs no
 * escaping of the URL's own `.`, `+`, `(` and cannot backtrack exponentially. It is
 * O(pattern × text) at worst, and it only ever runs on a policy whose signature has
 * already been verified.
 */
export function matchesResource(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let starAt = -1;
  let textAtStar = 0;
  while (t < text.length) {
    const c = pattern[p];
    if (c !== undefined && c !== '*' && (c === '?' || c === text[t])) {
      p++;
      t++;
    } else if (c === '*') {
      starAt = p++;
      textAtStar = t;
    } else if (starAt >= 0) {
      p = starAt + 1;
      t = ++textAtStar;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}

/**
 * Whether a policy's `Resource` names its scheme and host literally: `http://` or
 * `https://`, a host (and port) without `*` or `?`, then the path's `/`. Only such a
 * pattern is anchored. The text it is matched against is `scheme://host/path?query`, so
 * a wildcard before the path (a leading `*`, or one in the host) can swallow another
 * product's path and find the granted one in the query string:
 * `http://h/targets/other-av/x?y=/targets/demo-av/` against a leading `*` followed by
 * `/targets/demo-av/` and `*`. After the anchor, a literal prefix like
 * `/targets/demo-av/` can only be the path's own start: the path comes before the query,
 * and a canonical path holds no `?`.
 */
export function isAnchoredResource(pattern: string): boolean {
  return /^https?:\/\/[^/*?]+\//.test(pattern);
}
