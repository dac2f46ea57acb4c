/**
 * What the shared-deps layer provides, chosen by measure.ts (figures and reasons in
 * docs/lambda-layer.md). No layer content made init faster than bundling everything, so
 * the layer holds what costs least: @middy/core, the one third-party module every API
 * function loads, used whole, so nothing is lost to tree-shaking. zod/mini stays bundled:
 * across the layer boundary it cannot be tree-shaken (about 18 KB in a bundle, 431 KB as a
 * layer package, +26 % init). The AWS SDK stays bundled: every way of not bundling it was
 * slower (+29 % and more from a layer, +200 % and more from the runtime's copy), and a layer
 * copy under the `@aws-sdk/*` names would shadow the runtime's.
 */
export const sharedDepsPackages: readonly string[] = ['@middy/core'];
