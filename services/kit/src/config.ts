import { z } from 'zod';

/**
 * Thrown by {@link loadEnv} when one or more variables are missing or invalid.
 * The message lists every problem at once (name, reason, value with secrets
 * masked) so an operator fixes a Deployment in one pass.
 */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid environment:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** Variables whose values never appear in errors or logs. */
const SECRET_NAME = /SECRET|PASSWORD|TOKEN|KEY/i;
/** Variables that are URLs and may embed `user:password@`. */
const URL_NAME = /_URL$/;

/** Masks a value for an error message: secrets entirely, URL passwords in place. */
export function maskValue(name: string, value: unknown): string {
  if (value === undefined) return '(unset)';
  const text = String(value);
  if (SECRET_NAME.test(name)) return text.length === 0 ? '""' : `"***" (${text.length} chars)`;
  if (URL_NAME.test(name)) return JSON.stringify(text.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@'));
  return JSON.stringify(text);
}

/**
 * Validates `env` against a zod object schema and returns the typed result.
 * Empty strings count as unset, so `FOO=` in a manifest falls back to the
 * default instead of failing a number parse.
 */
export function loadEnv<S extends z.ZodObject>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const input: Record<string, string | undefined> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    input[key] = value === undefined || value.trim() === '' ? undefined : value;
  }
  const result = schema.safeParse(input);
  const problems: string[] = [];
  if (!result.success) {
    for (const issue of result.error.issues) {
      const name = issue.path.length > 0 ? String(issue.path[0]) : '(env)';
      problems.push(`${name}: ${issue.message} (got ${maskValue(name, input[name])})`);
    }
  }
  for (const rule of RULES.get(schema) ?? []) {
    for (const [name, message] of rule(input)) problems.push(`${name}: ${message}`);
  }
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  return result.data;
}

/** An integer from an env string, within [min, max]. */
export function intVar(min: number, max = Number.MAX_SAFE_INTEGER) {
  return z.coerce.number().int(`must be an integer`).min(min).max(max);
}

/** A boolean from `true|false|1|0` (z.coerce.boolean would read "false" as true). */
export function boolVar() {
  return z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
}

/** Comma-separated `host:port` list, e.g. Redis Cluster seed nodes. */
export const hostPortList = z
  .string()
  .transform((s) => s.split(',').map((p) => p.trim()).filter((p) => p.length > 0))
  .pipe(
    z
      .array(z.string().regex(/^[A-Za-z0-9.\-_[\]:]+:\d{1,5}$/, 'each entry must be host:port'))
      .min(1, 'needs at least one host:port'),
  )
  .transform((list) =>
    list.map((entry) => {
      const at = entry.lastIndexOf(':');
      return { host: entry.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(entry.slice(at + 1)) };
    }),
  );

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Every service: see services/README.md "Environment (every service)". */
export const commonEnv = z.object({
  PORT: intVar(1, 65535).default(8080),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  SERVICE_NAME: z.string().min(1).optional(),
  SHUTDOWN_TIMEOUT_MS: intVar(1000, 600_000).default(25_000),
});

/** PostgreSQL / Citus via PgBouncer. */
export const pgEnv = z.object({
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL'),
  DATABASE_POOL_MAX: intVar(1, 1000).default(10),
});

/**
 * A cross-field rule over the raw env strings (unset and empty are
 * `undefined`); returns `[variable, message]` per problem. Rules live in a
 * side table rather than as zod refinements because zod skips refinements
 * while any field is invalid (and spreading `.shape` drops them), and
 * {@link loadEnv} must report every problem at once.
 */
export type EnvRule = (env: Record<string, string | undefined>) => Array<[variable: string, message: string]>;

const RULES = new WeakMap<z.ZodObject, readonly EnvRule[]>();

/** Attaches cross-field rules to an env part; {@link envSchema} and {@link loadEnv} honour them. */
export function withEnvRules<S extends z.ZodObject>(schema: S, ...rules: EnvRule[]): S {
  RULES.set(schema, [...(RULES.get(schema) ?? []), ...rules]);
  return schema;
}

type ShapeOf<T> = T extends z.ZodObject<infer S> ? S : never;
type MergeShapes<T extends readonly z.ZodObject[]> = T extends readonly [infer H, ...infer R extends readonly z.ZodObject[]]
  ? ShapeOf<H> & MergeShapes<R>
  : {};

/**
 * Merges env parts into one schema for {@link loadEnv}, keeping each part's
 * cross-field rules: `envSchema(commonEnv, pgEnv, redisEnv, z.object({ EXTRA: ... }))`.
 */
export function envSchema<const T extends readonly z.ZodObject[]>(...parts: T): z.ZodObject<MergeShapes<T>> {
  const shape = Object.assign({}, ...parts.map((p) => p.shape)) as MergeShapes<T>;
  return withEnvRules(z.object(shape), ...parts.flatMap((p) => RULES.get(p) ?? [])) as z.ZodObject<MergeShapes<T>>;
}

/**
 * Redis: exactly one of `REDIS_CLUSTER_NODES` (every deployed environment) or
 * `REDIS_URL` (single node, local use only).
 */
export const redisEnv = withEnvRules(
  z.object({
    REDIS_CLUSTER_NODES: hostPortList.optional(),
    REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must be a redis:// URL').optional(),
    REDIS_PASSWORD: z.string().optional(),
  }),
  (v) => {
    const set = Number(v['REDIS_CLUSTER_NODES'] !== undefined) + Number(v['REDIS_URL'] !== undefined);
    return set === 1
      ? []
      : [['REDIS_CLUSTER_NODES', `set exactly one of REDIS_CLUSTER_NODES or REDIS_URL (${set === 0 ? 'neither' : 'both'} set)`]];
  },
);

/** RabbitMQ. */
export const amqpEnv = z.object({
  AMQP_URL: z.string().regex(/^amqps?:\/\//, 'must be an amqp:// URL'),
});

/** JWT (HS256): users issues, gateway verifies. */
export const jwtEnv = z.object({
  JWT_SECRET: z.string().min(32, 'must be at least 32 characters'),
  JWT_ISSUER: z.string().min(1).default('noa'),
  JWT_AUDIENCE: z.string().min(1).default('noa'),
  JWT_TTL_SECONDS: intVar(60, 7 * 24 * 3600).default(3600),
});
