/**
 * Every environment variable a function reads, declared once: its name, its type, its
 * default and bounds. A function lists the variables it reads (`config` in
 * lib/definitions/routes.ts); CDK sets exactly those, the Lambda entry parses exactly
 * those once at init, and reading one it did not list fails at init, not on a request.
 *
 * Two kinds:
 * - `resource`: where things are (a table, the bucket, a KMS key), set by the base
 *   function construct's bind methods together with the IAM grant.
 * - `runtime`: how the service behaves (poll interval, grant lifetime, rate limits,
 *   auto-halt, timestamp expiry), set from the `runtime` block of the deployment config;
 *   the local stack takes the same settings from its options or from the same variables.
 *
 * Endpoints are not configured here: the AWS SDK reads `AWS_ENDPOINT_URL_*` itself.
 */

interface Spec<T, Kind extends 'resource' | 'runtime' = 'resource' | 'runtime'> {
  readonly name: string;
  readonly kind: Kind;
  readonly description: string;
  /** Absent: the variable must be set. */
  readonly default?: T;
  /** The value, or a sentence that says what is wrong with it. */
  parse(raw: string): T | { readonly problem: string };
}

function text(name: string, description: string): Spec<string, 'resource'> {
  return { name, kind: 'resource', description, parse: (raw) => raw };
}

function flag(name: string, description: string): Spec<boolean, 'resource'> {
  return {
    name,
    kind: 'resource',
    description,
    default: false,
    parse: (raw) => (raw === 'true' ? true : raw === 'false' ? false : { problem: 'must be true or false' }),
  };
}

function integer(name: string, description: string, bounds: { default: number; min: number; max: number }): Spec<number, 'runtime'> {
  return {
    name,
    kind: 'runtime',
    description,
    default: bounds.default,
    parse(raw) {
      const value = Number(raw);
      if (!/^\d+$/.test(raw.trim()) || value < bounds.min || value > bounds.max) {
        return { problem: `must be a whole number from ${bounds.min} to ${bounds.max}` };
      }
      return value;
    },
  };
}

function fraction(name: string, description: string, bounds: { default: number }): Spec<number, 'runtime'> {
  return {
    name,
    kind: 'runtime',
    description,
    default: bounds.default,
    parse(raw) {
      const value = Number(raw);
      if (raw.trim() === '' || !(value > 0 && value <= 1)) return { problem: 'must be a number above 0 and at most 1' };
      return value;
    },
  };
}

const perMinute = (name: string, what: string, fallback: number) =>
  integer(`SIGNET_${name}_PER_MINUTE`, `${what} allowed per minute (token bucket refill), per function instance`, { default: fallback, min: 1, max: 1_000_000_000 });
const burst = (name: string, what: string, fallback: number) =>
  integer(`SIGNET_${name}_BURST`, `${what} allowed at once (token bucket size), per function instance`, { default: fallback, min: 1, max: 1_000_000_000 });

export const variables = {
  mainTable: text('SIGNET_TABLE_MAIN', 'the main table (lib/definitions/tables.ts)'),
  bucket: text('SIGNET_BUCKET', 'the signature bucket'),
  snapshotKmsKey: text('SIGNET_SNAPSHOT_KMS_KEY', 'ARN of the KMS key that signs snapshot metadata'),
  timestampKmsKey: text('SIGNET_TIMESTAMP_KMS_KEY', 'ARN of the KMS key that signs timestamp metadata'),
  cdnKmsKey: text('SIGNET_CDN_KMS_KEY', 'ARN of the KMS key that signs download grants'),
  cdnParameter: text('SIGNET_CDN_PARAMETER', 'SSM parameter with the CDN base URL and key-pair id'),
  cdnParameterRegion: text('SIGNET_CDN_PARAMETER_REGION', 'region of that parameter'),
  // Set by the CDK for the primary region's repository writers when replica regions exist (lib/releases/replication.ts).
  replicaViews: flag('SIGNET_REPLICA_VIEWS', 'write each timestamp.json also as a replica view, for replica regions'),
  primaryRegion: text('SIGNET_PRIMARY_REGION', 'the primary region, the only one whose functions write the repository and take admin calls'),
  repositoryFunction: text('SIGNET_REPOSITORY_FUNCTION', 'name of the function that moves the snapshot (timestampRefresh)'),

  pollSeconds: integer('SIGNET_POLL_SECONDS', 'how often agents are told to poll', { default: 900, min: 30, max: 86_400 }),
  channelCacheSeconds: integer('SIGNET_CHANNEL_CACHE_SECONDS', 'how long a function instance keeps a channel it read: a promotion or halt reaches its manifests and reports at most this late', {
    default: 5,
    min: 0,
    max: 60,
  }),
  grantLifetimeSeconds: integer('SIGNET_GRANT_LIFETIME_SECONDS', 'how long a download grant is valid; renewed when a quarter is left', {
    default: 3_600,
    min: 4,
    max: 7 * 86_400,
  }),
  registrationPerMinute: perMinute('REGISTRATION', 'registrations per client address', 120),
  registrationBurst: burst('REGISTRATION', 'registrations per client address', 120),
  manifestPerMinute: perMinute('MANIFEST', 'manifest requests per agent', 60),
  manifestBurst: burst('MANIFEST', 'manifest requests per agent', 30),
  reportsPerMinute: perMinute('REPORTS', 'reports per agent', 30),
  reportsBurst: burst('REPORTS', 'reports per agent', 10),
  mirrorPerMinute: perMinute('MIRROR', 'site mirror requests (lease, relayed reports, offline timestamp) per client address', 60),
  mirrorBurst: burst('MIRROR', 'site mirror requests (lease, relayed reports, offline timestamp) per client address', 60),
  haltFailureRate: fraction('SIGNET_HALT_FAILURE_RATE', "share of failed reports on a rollout's version that halts it", { default: 0.2 }),
  haltMinReports: integer('SIGNET_HALT_MIN_REPORTS', 'reports on a version before its failure rate counts', { default: 20, min: 1, max: 1_000_000 }),
  // At most the snapshot's renewal margin (lib/releases/expiry.ts): a longer one would outlive its snapshot and force a new snapshot, and a manifest per agent, at every refresh.
  timestampExpiryHours: integer('SIGNET_TIMESTAMP_EXPIRY_HOURS', 'how long a signed timestamp.json is valid', { default: 24, min: 1, max: 24 * 10 }),
} as const;

export type VariableKey = keyof typeof variables;
export type VariableValue<K extends VariableKey> = (typeof variables)[K] extends Spec<infer T, 'resource' | 'runtime'> ? T : never;
export type Settings = { -readonly [K in VariableKey]: VariableValue<K> };

export type RuntimeKey = { [K in VariableKey]: (typeof variables)[K]['kind'] extends 'runtime' ? K : never }[VariableKey];
export type RuntimeSettings = Pick<Settings, RuntimeKey>;

export const runtimeKeys = (Object.keys(variables) as VariableKey[]).filter((key): key is RuntimeKey => variables[key].kind === 'runtime');

/** Every runtime setting at its default. */
export function defaultRuntimeSettings(): RuntimeSettings {
  return Object.fromEntries(runtimeKeys.map((key) => [key, variables[key].default])) as unknown as RuntimeSettings;
}

export class ConfigError extends Error {}

/** A value as the variable's spec reads it, or a ConfigError that names the variable. */
export function parseVariable<K extends VariableKey>(key: K, raw: string): VariableValue<K> {
  const spec = variables[key] as Spec<VariableValue<K>>;
  const value = spec.parse(raw);
  if (typeof value === 'object' && value !== null && 'problem' in value) {
    throw new ConfigError(`${spec.name} ${value.problem}, got "${raw}"`);
  }
  return value as VariableValue<K>;
}

/**
 * One function's configuration: the variables it declared, parsed at init. Reading one
 * it did not declare throws at once, so a missing declaration (which would leave CDK not
 * setting the variable) fails the first start, locally or in Lambda.
 */
export class FunctionConfig {
  constructor(
    readonly functionId: string,
    private readonly values: ReadonlyMap<VariableKey, unknown>,
  ) {}

  get<K extends VariableKey>(key: K): VariableValue<K> {
    if (!this.values.has(key)) {
      throw new ConfigError(`function ${this.functionId} reads ${variables[key].name} but does not declare it (config in lib/definitions/routes.ts)`);
    }
    return this.values.get(key) as VariableValue<K>;
  }

  /** Whether each timestamp.json is also written as a replica view; the local stack, which has no replicas, does not set it. */
  writesReplicaViews(): boolean {
    return this.has('replicaViews') && this.get('replicaViews');
  }

  /** Whether the variable was declared and set (the cloud-only ones are absent locally). */
  has(key: VariableKey): boolean {
    return this.values.has(key);
  }
}

/**
 * The declared variables from an environment: a runtime one falls back to its default,
 * a resource one must be set unless `optional` lists it (the CDN identity, say, which
 * may come from elsewhere). Every problem at once, each naming its variable.
 */
export function configFromEnv(
  functionId: string,
  declared: readonly VariableKey[],
  env: Readonly<Record<string, string | undefined>>,
  optional: readonly VariableKey[] = [],
): FunctionConfig {
  const values = new Map<VariableKey, unknown>();
  const problems: string[] = [];
  for (const key of declared) {
    const spec = variables[key] as Spec<unknown>;
    const raw = env[spec.name];
    if (raw === undefined || raw === '') {
      if (spec.default !== undefined) values.set(key, spec.default);
      else if (!optional.includes(key)) problems.push(`missing environment variable ${spec.name} (${spec.description})`);
      continue;
    }
    try {
      values.set(key, parseVariable(key, raw));
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  if (problems.length > 0) throw new ConfigError(`function ${functionId}: ${problems.join('; ')}`);
  return new FunctionConfig(functionId, values);
}

/** The declared variables from values the caller already has (the local stack's). */
export function configFromValues(functionId: string, declared: readonly VariableKey[], values: Partial<Settings>): FunctionConfig {
  return new FunctionConfig(functionId, new Map(declared.flatMap((key) => (values[key] === undefined ? [] : [[key, values[key]] as const]))));
}

/**
 * Runtime settings from an environment (what `signet local` reads; `signet mirror serve` reads
 * `only` its rate limits): defaults where unset, an error that names a bad one.
 */
export function runtimeSettingsFromEnv(env: Readonly<Record<string, string | undefined>>, only: readonly RuntimeKey[] = runtimeKeys): RuntimeSettings {
  const settings = defaultRuntimeSettings() as unknown as Record<string, unknown>;
  for (const key of only) {
    const raw = env[variables[key].name];
    if (raw !== undefined && raw !== '') settings[key] = parseVariable(key, raw);
  }
  return settings as unknown as RuntimeSettings;
}
