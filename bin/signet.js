#!/usr/bin/env node
// The `signet` command: runs the TypeScript sources directly through tsx, so local use
// needs no build step. Lambda runs esbuild bundles of the same sources instead.

// The SDK warns on Node 20 about releases it has not made yet; the pinned ones support it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const { register } = await import('tsx/esm/api');
register();
await import('../cli/main.ts');
