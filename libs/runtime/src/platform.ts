/**
 * The platform is what every service of a process shares: logger, metrics, cache, bus,
 * token keys and verifier, the gRPC server, and the list of dependency checks behind
 * readiness. One process may host one service (connected mode) or all of them (embedded).
 */
import { loadKeyMaterial, RevocationList, SessionWatch, TokenVerifier, type KeyMaterial } from "@weelo/auth";
import { createBus, type Bus } from "@weelo/bus";
import { createCache, type Cache } from "@weelo/cache";
import type { BaseConfig } from "@weelo/config";
import { createDatabase, type Database, type Migration } from "@weelo/db";
import {
  createMeshClient,
  GrpcServer,
  identityOf,
  Mesh,
  revocationInterceptor,
  type BoundPorts,
  type ListenAddresses,
  type ServiceClient,
  type ServiceDefinition,
} from "@weelo/grpc";
import { UnavailableError } from "@weelo/errors";
import { createLogger, type Logger } from "@weelo/log";
import { Metrics } from "@weelo/metrics";
import { parseOtlpHeaders, startTracing, type Tracing } from "@weelo/telemetry";
import { startPolling, type Polling, type PollingOptions } from "./polling.js";

/** A named probe of one dependency; throws when the dependency is not usable. */
export interface DependencyCheck {
  name: string;
  /** Critical checks make readiness fail; others only show in /health/detailed. */
  critical: boolean;
  check(): Promise<void>;
}

export interface Platform {
  readonly config: BaseConfig;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly cache: Cache;
  readonly bus: Bus;
  readonly keys: KeyMaterial;
  readonly revocations: RevocationList;
  readonly verifier: TokenVerifier;
  /** Revoked sessions as they happen (bus notices): open streams and sockets watch theirs. */
  readonly sessions: SessionWatch;
  readonly grpc: GrpcServer;
  /** This process's mesh identity and certificates (mutual TLS between services). */
  readonly mesh: Mesh;
  readonly checks: DependencyCheck[];
  /** OpenTelemetry tracing of this process (off unless OTEL_EXPORTER_OTLP_ENDPOINT is set). */
  readonly tracing: Tracing;
  /** Opens a service's own schema (migrated) and registers its readiness check. */
  database<DB>(service: string, migrations: Record<string, Migration>): Promise<Database<DB>>;
  /** Registers cleanup to run at shutdown, in reverse order of registration. */
  onShutdown(name: string, fn: () => Promise<void>): void;
  /**
   * Registers work for the very start of a shutdown, before the gRPC server stops taking calls
   * and waits for in-flight ones: long-lived streams are told to reconnect elsewhere and end
   * on their own. Drains run together, bounded by 30% of SHUTDOWN_TIMEOUT_MS.
   */
  onDrain(name: string, fn: () => Promise<void>): void;
  /**
   * Starts a polling loop (see startPolling; logs through this platform's logger unless given
   * one) and stops it at shutdown, awaiting its run in progress. Started after the database
   * opened, it is stopped before the database closes.
   */
  poll(options: Omit<PollingOptions, "logger"> & Partial<Pick<PollingOptions, "logger">>): Polling;
  /**
   * A client of another service over the mesh, calling as `caller` (the module that calls: in the
   * all-in-one each service calls as itself), with the process's default deadline and metrics.
   * Throws UNAVAILABLE for port 0 (this process's own mesh port read before it listens), so a
   * client made on first use is made again on the next use instead of being kept broken.
   */
  meshClient<D extends ServiceDefinition>(definition: D, address: string, caller: string): ServiceClient<D>;
  /**
   * A mesh client made on its first call, for an address known only later (the all-in-one's own
   * mesh port, read once it listens); closed at shutdown.
   */
  lazyMeshClient<D extends ServiceDefinition>(definition: D, address: () => string, caller: string): ServiceClient<D>;
  /**
   * Starts both gRPC listeners (public on GRPC_HOST:GRPC_PORT, mesh on MESH_HOST:MESH_PORT unless
   * given) and keeps their health status true to the dependency checks.
   */
  listen(addresses?: Partial<ListenAddresses>): Promise<BoundPorts>;
  /** Runs every cleanup once, each bounded by the remaining shutdown time. */
  shutdown(): Promise<void>;
}

export interface PlatformOptions {
  name: string;
  logger?: Logger;
  /**
   * The all-in-one: its internal plane never leaves loopback, so in production it makes its mesh
   * CA in memory at start instead of reading certificate files (development keeps DATA_DIR/mesh).
   */
  inProcessMesh?: boolean;
}

/**
 * The shutdowns of every platform this process has begun to create, from their first line: a
 * signal that arrives during start (runMain) stops whatever was already opened, not only a
 * platform that finished starting.
 */
const begun = new Set<() => Promise<void>>();

/** Shuts down every platform begun in this process (each once; see Platform.shutdown). */
export async function shutdownBegunPlatforms(): Promise<void> {
  await Promise.all([...begun].map((shutdown) => shutdown()));
}

/** Thrown by a start step that finds its platform shut down while it was starting. */
export class StoppedDuringStart extends Error {
  constructor() {
    super("stopped during start");
    this.name = "StoppedDuringStart";
  }
}

export async function createPlatform(config: BaseConfig, options: PlatformOptions): Promise<Platform> {
  const logger =
    options.logger ?? createLogger({ service: options.name, level: config.LOG_LEVEL, pretty: config.LOG_PRETTY });
  const metrics = new Metrics();
  const cleanups: { name: string; fn: () => Promise<void> }[] = [];
  const onShutdown = (name: string, fn: () => Promise<void>) => void cleanups.push({ name, fn });
  const drains: { name: string; fn: () => Promise<void> }[] = [];
  let grpcServer: GrpcServer | undefined;
  let shuttingDown: Promise<void> | undefined;
  const shutdown = () => {
    shuttingDown ??= (async () => {
      const deadline = Date.now() + config.SHUTDOWN_TIMEOUT_MS;
      // Stop taking calls first, let in-flight ones finish, then close what they used.
      const drainBound = config.SHUTDOWN_TIMEOUT_MS * 0.3;
      await Promise.all(
        drains.map(({ name, fn }) =>
          Promise.race([fn(), new Promise((resolve) => setTimeout(resolve, drainBound).unref())]).catch(
            (error: unknown) => logger.warn({ err: error, dependency: name }, "drain failed"),
          ),
        ),
      );
      await grpcServer?.shutdown(Math.max(100, (deadline - Date.now()) * 0.6));
      for (const { name, fn } of cleanups.reverse()) {
        const left = Math.max(50, deadline - Date.now());
        await Promise.race([fn(), new Promise((resolve) => setTimeout(resolve, left).unref())]).catch(
          (error: unknown) => logger.warn({ err: error, dependency: name }, "cleanup failed"),
        );
      }
      // Stopped: nothing is left for a signal to stop, and the process need not keep the platform alive.
      begun.delete(shutdown);
    })();
    return shuttingDown;
  };
  begun.add(shutdown);
  /** After each step of the start: a shutdown that began meanwhile ends the start (what the step opened is closed too). */
  const stillStarting = async (name: string, close: () => Promise<void>) => {
    if (shuttingDown === undefined) return;
    await close().catch(() => undefined);
    throw Object.assign(new StoppedDuringStart(), { step: name });
  };

  // First registered, so stopped last: the spans of the shutdown itself are exported too.
  const tracing = startTracing({
    serviceName: config.OTEL_SERVICE_NAME ?? options.name,
    endpoint: config.OTEL_SDK_DISABLED ? undefined : config.OTEL_EXPORTER_OTLP_ENDPOINT,
    headers: parseOtlpHeaders(config.OTEL_EXPORTER_OTLP_HEADERS),
    sampleRatio: config.OTEL_TRACES_SAMPLER_ARG,
    scheduleDelayMs: config.OTEL_BSP_SCHEDULE_DELAY,
    resource: { "deployment.environment.name": config.NODE_ENV },
  });
  onShutdown("tracing", () => tracing.shutdown());
  if (tracing.enabled)
    logger.info(
      { endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT, sampleRatio: config.OTEL_TRACES_SAMPLER_ARG },
      "tracing: exporting spans over OTLP/HTTP",
    );

  const cache = await createCache({ config, keyPrefix: config.CACHE_KEY_PREFIX, logger, metrics });
  await stillStarting("cache", () => cache.close());
  onShutdown("cache", () => cache.close());
  const bus = await createBus({ config, service: options.name, logger, metrics });
  await stillStarting("bus", () => bus.close());
  onShutdown("bus", () => bus.close());

  const keys = await loadKeyMaterial(config);
  const revocations = new RevocationList(cache, config.ACCESS_TOKEN_TTL_S * 1000);
  const verifier = new TokenVerifier(keys, revocations, { issuer: config.JWT_ISSUER });
  const sessions = new SessionWatch(bus, {
    rememberMs: config.ACCESS_TOKEN_TTL_S * 1000,
    onError: (err) => logger.warn({ err }, "session revocation notice failed"),
  });
  onShutdown("sessions", async () => sessions.close());
  const production = config.NODE_ENV === "production";
  const mesh = await Mesh.create(config, {
    allowDevelopmentCa: !production,
    inMemoryCa: production && options.inProcessMesh === true,
  });
  await stillStarting("mesh", async () => undefined);
  const grpc = new GrpcServer({ logger, metrics, verifier, mesh, interceptors: [revocationInterceptor(sessions)] });
  grpcServer = grpc;

  const checks: DependencyCheck[] = [
    { name: `cache (${cache.kind})`, critical: true, check: () => cache.ping() },
    { name: `bus (${bus.kind})`, critical: true, check: () => bus.ping() },
  ];

  const platform: Platform = {
    config,
    logger,
    metrics,
    cache,
    bus,
    keys,
    revocations,
    verifier,
    sessions,
    grpc,
    mesh,
    checks,
    tracing,
    meshClient: (definition, address, caller) => {
      // Port 0 is "any port" to a listener, never a peer: an address read from this process's own
      // mesh port before it listens. A client made for it would fail every call for good.
      if (/:0$/.test(address))
        throw new UnavailableError(`${caller}: no client for ${address} (this process is not listening yet)`);
      return createMeshClient(definition, address, { mesh, caller, deadlineMs: config.GRPC_DEADLINE_MS, metrics });
    },
    lazyMeshClient(definition, address, caller) {
      let client: ServiceClient<typeof definition> | undefined;
      onShutdown(`${caller}'s client of ${identityOf(definition)}`, async () => client?.close());
      return new Proxy({} as ServiceClient<typeof definition>, {
        get: (_target, key) => {
          if (key === "close") return () => client?.close();
          client ??= platform.meshClient(definition, address(), caller);
          return (client as Record<string | symbol, unknown>)[key];
        },
      });
    },
    onShutdown,
    onDrain: (name: string, fn: () => Promise<void>) => void drains.push({ name, fn }),
    poll(polling) {
      const loop = startPolling({ logger, ...polling });
      onShutdown(polling.name, () => loop.stop());
      return loop;
    },
    async database<DB>(service: string, migrations: Record<string, Migration>) {
      const schema = `${config.DB_SCHEMA_PREFIX}${service}`;
      const database = await createDatabase<DB>({ service, schema, config, migrations, logger, metrics });
      await stillStarting(`database ${service}`, () => database.close());
      onShutdown(`database ${service}`, () => database.close());
      checks.push({ name: `database ${service} (${database.kind})`, critical: true, check: () => database.ping() });
      return database;
    },
    async listen(addresses: Partial<ListenAddresses> = {}) {
      const bound = await grpc.listen({
        publicHost: addresses.publicHost ?? config.GRPC_HOST,
        publicPort: addresses.publicPort ?? config.GRPC_PORT,
        meshHost: addresses.meshHost ?? config.MESH_HOST,
        meshPort: addresses.meshPort ?? config.MESH_PORT,
      });
      platform.poll({
        name: "health watch",
        everyMs: config.HEALTH_WATCH_INTERVAL_MS,
        delayFirstRun: true,
        task: async () => grpc.reportHealth((await runChecks(checks)).every((r) => r.ok || !r.critical)),
      });
      return bound;
    },
    shutdown,
  };
  return platform;
}

/** Runs every check with its latency; used by readiness and detailed health. */
export async function runChecks(checks: readonly DependencyCheck[], timeoutMs = 2000) {
  return Promise.all(
    checks.map(async ({ name, critical, check }) => {
      const started = performance.now();
      try {
        await Promise.race([
          check(),
          new Promise((_, reject) =>
            setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs).unref(),
          ),
        ]);
        return { name, critical, ok: true, latencyMs: round(performance.now() - started) };
      } catch (error) {
        return {
          name,
          critical,
          ok: false,
          latencyMs: round(performance.now() - started),
          error: (error as Error).message,
        };
      }
    }),
  );
}

const round = (ms: number) => Math.round(ms * 100) / 100;
