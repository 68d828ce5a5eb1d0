/**
 * Configuration is read once at start into a frozen, typed object. A missing or invalid
 * setting stops the process with a message naming the variable; production refuses the
 * settings that only make sense on a developer's machine.
 */
import { z } from "zod";

/** Turns "true"/"1"/"yes" and "false"/"0"/"no" into booleans; env values are strings. */
export const envBoolean = (fallback: boolean) =>
  z
    .enum(["true", "false", "1", "0", "yes", "no", ""])
    .default(fallback ? "true" : "false")
    .transform((v) => v === "true" || v === "1" || v === "yes");

/** A positive integer read from a string. */
export const envInt = (fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().int().min(min).max(max).default(fallback);

/** An optional string where an empty value counts as unset. */
export const envOptional = () =>
  z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === "" ? undefined : v.trim()));

/** A NATS stream, subject token or consumer name (letters, digits, _ and -); tests use unique ones. */
export const natsName = (what: string) =>
  z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, `${what} are letters, digits, _ and -`);

/** Settings every process shares: where it runs, where its state lives, how it logs. */
export const baseConfigSchema = z.object({
  NODE_ENV: z.enum(["development", "test", "production"]).default("development"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** Pretty, human log lines instead of JSON; development only. */
  LOG_PRETTY: envBoolean(false),
  /** Folder for embedded state: PGlite data and development keys. */
  DATA_DIR: z.string().default("./data"),
  /** Postgres connection string; unset means embedded PGlite under DATA_DIR. */
  DATABASE_URL: envOptional(),
  DB_POOL_MIN: envInt(5, 0, 1000),
  DB_POOL_MAX: envInt(50, 1, 1000),
  DB_POOL_IDLE_MS: envInt(30_000, 1000),
  /**
   * Whether a service creates its schema and applies its migrations as it starts. Unset: yes,
   * except in production, where the migrate one-shot (`npm run migrate`, the weelo-migrate Job)
   * runs them with a DDL-capable role first and each service's runtime role cannot run DDL.
   */
  MIGRATE_ON_START: z
    .enum(["true", "false", "1", "0", "yes", "no", ""])
    .optional()
    .transform((v) => (v === undefined || v === "" ? undefined : v === "true" || v === "1" || v === "yes")),
  /** Prefix of every service's Postgres schema name; tests use a fresh one to stay isolated. */
  DB_SCHEMA_PREFIX: z
    .string()
    .regex(/^[a-z0-9_]*$/)
    .default(""),
  /** Prefix of every cache key; tests and shared Redis servers use one to stay isolated. */
  CACHE_KEY_PREFIX: z.string().default(""),
  /** Redis connection string; unset means the in-process store. */
  REDIS_URL: envOptional(),
  /** NATS server list (comma separated); unset means the in-process bus. */
  NATS_URL: envOptional(),
  /**
   * Copies JetStream keeps of every stream the processes create (num_replicas): 1 on a single
   * server, 3 on a three-node NATS cluster so a stream survives a node. The in-process bus ignores it.
   */
  NATS_STREAM_REPLICAS: envInt(1, 1, 5),
  /** Port of the public gRPC listener: plaintext, public services only, every call with an access token. */
  GRPC_PORT: envInt(50051, 0, 65535),
  /** Host the public gRPC listener binds to: loopback unless configured otherwise (apps reach the gateway, not this). */
  GRPC_HOST: z.string().default("127.0.0.1"),
  /** Port of the mesh listener: mutual TLS, where other services and the gateway call (internal plane). */
  MESH_PORT: envInt(50052, 0, 65535),
  /** Host the mesh listener binds to (the all-in-one keeps it on loopback whatever this says). */
  MESH_HOST: z.string().default("0.0.0.0"),
  /** The identity this process's mesh certificate must name (spiffe://<trust domain>/<identity>): a wrong secret mounted stops the start. */
  MESH_IDENTITY: envOptional(),
  /** PEM files of this process's mesh certificate, its key and the mesh CA (required in production; re-read for rotation). */
  MESH_CERT_FILE: envOptional(),
  MESH_KEY_FILE: envOptional(),
  MESH_CA_FILE: envOptional(),
  /** Trust domain of the mesh's SPIFFE IDs. */
  MESH_TRUST_DOMAIN: z
    .string()
    .regex(/^[a-z0-9.-]+$/)
    .default("weelo"),
  /** How often the mesh certificate files are re-read (cert-manager renews them in place). */
  MESH_CERT_REFRESH_MS: envInt(60_000, 1000),
  /** Default deadline of an internal gRPC call, in milliseconds. */
  GRPC_DEADLINE_MS: envInt(5000, 10),
  /** Port of the /metrics and /health endpoints of a service running alone. */
  METRICS_PORT: envInt(9464, 0, 65535),
  /** Host of the admin listener (/metrics, /health*): reachable by Prometheus and the kubelet, never by apps. */
  METRICS_HOST: z.string().default("0.0.0.0"),
  /** How often a process re-checks its dependencies to keep its gRPC health status true. */
  HEALTH_WATCH_INTERVAL_MS: envInt(5000, 50),
  /** How long a graceful shutdown may take before the process exits anyway. */
  SHUTDOWN_TIMEOUT_MS: envInt(10_000, 100),
  /** JSON Web Key Set of the public keys that sign access tokens; unset in development means a generated key under DATA_DIR. */
  JWT_PUBLIC_JWKS: envOptional(),
  /** Issuer claim of every token. */
  JWT_ISSUER: z.string().default("weelo"),
  /** Lifetime of an access token, in seconds (15 minutes). */
  ACCESS_TOKEN_TTL_S: envInt(900, 30, 24 * 3600),
  /** OTLP/HTTP collector base URL (spans go to <url>/v1/traces); unset keeps tracing off. */
  OTEL_EXPORTER_OTLP_ENDPOINT: envOptional().refine(
    (v) => v === undefined || /^https?:\/\/[^\s]+$/.test(v),
    "must be an http(s) URL",
  ),
  /** Headers of the export requests, "key=value,key2=value2" (a collector's API key). */
  OTEL_EXPORTER_OTLP_HEADERS: envOptional(),
  /** service.name of this process's spans; defaults to the process's name (gateway, booking, weelo). */
  OTEL_SERVICE_NAME: envOptional(),
  /** Fraction of new traces recorded (0..1); calls that arrive sampled stay sampled. */
  OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).default(1),
  /** How often finished spans are exported, in milliseconds. */
  OTEL_BSP_SCHEDULE_DELAY: envInt(5000, 10),
  /** Turns tracing off even with an endpoint set. */
  OTEL_SDK_DISABLED: envBoolean(false),
});

export type BaseConfig = z.infer<typeof baseConfigSchema>;

/** Thrown (and printed by mains) when the environment does not describe a valid configuration. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

/** A rule checked after parsing (in production, or always): returns a message when violated. */
export type ProductionRule<T> = (config: T) => string | undefined;

/** The embedded stand-ins keep state in one process: fine on a laptop, wrong behind a load balancer. */
export const productionRequiresServers: ProductionRule<BaseConfig> = (c) => {
  const missing = (["DATABASE_URL", "REDIS_URL", "NATS_URL", "JWT_PUBLIC_JWKS"] as const).filter((k) => !c[k]);
  return missingServers(missing);
};

/**
 * The same for a process without a database (the gateway): it must not even hold a database
 * URL, so a compromise of the internet-facing process does not hand over credentials.
 */
export const productionRequiresServersNoDatabase: ProductionRule<BaseConfig> = (c) => {
  if (c.DATABASE_URL) return "DATABASE_URL must not be set for this process: it has no database (least privilege)";
  return missingServers((["REDIS_URL", "NATS_URL", "JWT_PUBLIC_JWKS"] as const).filter((k) => !c[k]));
};

function missingServers(missing: readonly string[]): string | undefined {
  return missing.length > 0
    ? `${missing.join(", ")} must be set in production (embedded stand-ins and generated keys are for development)`
    : undefined;
}

/** What the templates (.env.production.example, deploy/k8s/secrets) put where a secret goes. */
const PLACEHOLDER = /(?:REPLACE|CHANGE)_ME/i;

/** Every setting (of any process) still holding a template's placeholder, anywhere in its value. */
export const productionRefusesPlaceholders = (config: Record<string, unknown>): string[] =>
  Object.entries(config)
    .filter(([, value]) => typeof value === "string" && PLACEHOLDER.test(value))
    .map(
      ([key]) =>
        `${key}: holds a placeholder (REPLACE_ME…/CHANGE_ME…) from a template; set the real value in production`,
    );

/**
 * Parses the environment with the schema, applies production rules, and freezes the result.
 * Throws ConfigError naming every bad variable at once.
 */
export function loadConfig<S extends z.ZodType<BaseConfig>>(
  schema: S,
  env: Record<string, string | undefined> = process.env,
  productionRules: ProductionRule<z.infer<S>>[] = [],
  alwaysRules: ProductionRule<z.infer<S>>[] = [],
  /** false for a process that has no database (the gateway): production then refuses a DATABASE_URL. */
  { database = true }: { database?: boolean } = {},
): Readonly<z.infer<S>> {
  const result = schema.safeParse(env);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((issue) => `${issue.path.join(".") || "(env)"}: ${issue.message}`));
  }
  const config = result.data;
  const always = alwaysRules.map((rule) => rule(config)).filter((p): p is string => p !== undefined);
  if (always.length > 0) throw new ConfigError(always);
  if (config.NODE_ENV === "production") {
    const servers = database ? productionRequiresServers : productionRequiresServersNoDatabase;
    const problems = [servers, ...productionRules]
      .map((rule) => rule(config))
      .filter((p): p is string => p !== undefined);
    problems.push(...productionRefusesPlaceholders(config as Record<string, unknown>));
    if (config.LOG_PRETTY) problems.push("LOG_PRETTY: pretty logs are for development; production logs JSON");
    if (problems.length > 0) throw new ConfigError(problems);
  }
  return Object.freeze(config);
}

export { z };
