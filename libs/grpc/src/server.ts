/**
 * The gRPC server every service runs, on two listeners that never share a port:
 * - the mesh listener (MESH_HOST:MESH_PORT): mutual TLS, every service of the process. Other
 *   services and the gateway call here; internal services (their protos name their callers) are
 *   served nowhere else, and the declared-callers check refuses anyone the contract does not list.
 * - the public listener (GRPC_HOST:GRPC_PORT, loopback by default): plaintext, the public
 *   services only, each call authenticated by the user's access token (local tools, grpcurl).
 * Both carry grpc.health.v1; the public one also server reflection over the real descriptor set,
 * so grpcurl and `buf curl` work without local protos. Shutdown drains within a bound.
 */
import * as grpc from "@grpc/grpc-js";
import type { TokenVerifier } from "@weelo/auth";
import type { Logger } from "@weelo/log";
import type { Metrics } from "@weelo/metrics";
import { HealthImplementation } from "grpc-health-check";
import { deadlineInterceptor } from "./interceptors/deadline.js";
import { meshCallerInterceptor } from "./interceptors/mesh-caller.js";
import { observeInterceptor } from "./interceptors/observe.js";
import { principalInterceptor } from "./interceptors/principal.js";
import { requestContextInterceptor } from "./interceptors/request-context.js";
import { tracingInterceptor } from "./interceptors/tracing.js";
import type { ServerInterceptor } from "./interceptors/types.js";
import { declaredAccess } from "./mesh/access.js";
import type { Mesh } from "./mesh/mesh.js";
import { addReflection, HEALTH_SERVICE } from "./reflection.js";
import { bindService, splitPath, tolerantDefinition, type ServiceDefinition, type ServiceHandlers } from "./service.js";

export interface GrpcServerOptions {
  logger: Logger;
  metrics: Metrics;
  verifier: TokenVerifier;
  /** This process's mesh identity and certificates. */
  mesh: Mesh;
  /** Extra interceptors, run innermost (after authentication). */
  interceptors?: ServerInterceptor[];
}

export interface AddServiceOptions {
  /** Methods of a public service (proto names, e.g. "SendOtp") callable without an access token. */
  publicMethods?: readonly string[];
}

/** Where the two listeners bind; port 0 picks a free one. */
export interface ListenAddresses {
  publicHost: string;
  publicPort: number;
  meshHost: string;
  meshPort: number;
}

/** Both listeners on loopback, on ports the OS picks (tests). */
export const EPHEMERAL_LOOPBACK: ListenAddresses = Object.freeze({
  publicHost: "127.0.0.1",
  publicPort: 0,
  meshHost: "127.0.0.1",
  meshPort: 0,
});

export interface BoundPorts {
  publicPort: number;
  meshPort: number;
}

const SERVER_OPTIONS: grpc.ServerOptions = {
  // Mobile networks drop idle connections silently: ping to notice dead peers.
  "grpc.keepalive_time_ms": 30_000,
  "grpc.keepalive_timeout_ms": 10_000,
  "grpc.keepalive_permit_without_calls": 1,
  "grpc.http2.min_ping_interval_without_data_ms": 10_000,
  "grpc.max_receive_message_length": 4 * 1024 * 1024,
  // No channelz service is served: without it, its per-call trackers are pure cost (four closures
  // kept by every open stream, and a count for every message sent and received).
  "grpc.enable_channelz": 0,
  // No grpc.max_connection_age_ms: with it, every stream the gateway relayed (drivers'
  // StreamLocation, WatchBooking, WatchOffers) failed at once when the age came (seen by
  // the simulator at 5 minutes), and drivers stream all day. The cause, in grpc-js 1.14.7: after
  // the age's GOAWAY the connection is closing, and the next keepalive ping (ours here, or the
  // client's) cannot be sent on it, so grpc-js destroys it with every stream still on it
  // (UNAVAILABLE "Connection dropped"), whatever grpc.max_connection_age_grace_ms says. Channels
  // find new replicas when they reconnect instead (CHANNEL_OPTIONS: quick re-resolution).
};

export class GrpcServer {
  /** Plaintext, public services only (token-authenticated). */
  readonly publicServer = new grpc.Server(SERVER_OPTIONS);
  /** Mutual TLS, every service (the internal plane). */
  readonly meshServer = new grpc.Server(SERVER_OPTIONS);
  private readonly publicHealth = new HealthImplementation({ "": "NOT_SERVING" });
  private readonly meshHealth = new HealthImplementation({ "": "NOT_SERVING" });
  private readonly publicNames: string[] = [];
  private readonly serviceNames: string[] = [];
  private started = false;
  private serving = false;
  private ports: BoundPorts | undefined;
  private markListening!: (ports: BoundPorts) => void;
  /**
   * Resolves once both listeners are bound (never, if the process stops first): background work
   * that calls services of this process through its own ports (the all-in-one) starts then,
   * when those ports are known.
   */
  readonly listening: Promise<BoundPorts> = new Promise((resolve) => {
    this.markListening = resolve;
  });

  constructor(private readonly options: GrpcServerOptions) {
    this.publicHealth.addToServer(this.publicServer);
    this.meshHealth.addToServer(this.meshServer);
  }

  /**
   * Serves a service: an internal one (its proto names callers) on the mesh listener only, behind
   * the declared-callers check; a public one on both, behind the access-token check.
   */
  addService<D extends ServiceDefinition>(
    definition: D,
    handlers: ServiceHandlers<D>,
    options: AddServiceOptions = {},
  ): this {
    const firstMethod = Object.values(definition)[0];
    if (!firstMethod) throw new Error("a service needs at least one method");
    const [serviceName] = splitPath(firstMethod.path);
    const access = declaredAccess(serviceName);
    if (access.internal && options.publicMethods) {
      throw new Error(
        `${serviceName} is internal: its callers are authorized by their mesh certificates, so publicMethods does not apply`,
      );
    }
    const publicMethods = new Set(options.publicMethods ?? []);
    // Internal calls are authorized by the caller's certificate; a user token, when forwarded, is still read.
    const tokenOptional = (method: string) => access.internal || publicMethods.has(method);
    const chain = (meshCheck: ServerInterceptor[]): ServerInterceptor[] => [
      tracingInterceptor,
      requestContextInterceptor,
      observeInterceptor(this.options.metrics, this.options.logger),
      deadlineInterceptor,
      ...meshCheck,
      principalInterceptor(this.options.verifier, tokenOptional),
      ...(this.options.interceptors ?? []),
    ];
    const { logger, metrics, mesh } = this.options;
    this.meshServer.addService(
      tolerantDefinition(definition) as unknown as grpc.ServiceDefinition,
      bindService(definition, handlers, {
        logger,
        interceptors: chain([meshCallerInterceptor(access, metrics, logger)]),
        callerOf: (call) => mesh.callerOf(call),
      }),
    );
    this.meshHealth.setStatus(serviceName, "NOT_SERVING");
    if (!access.internal) {
      this.publicServer.addService(
        tolerantDefinition(definition) as unknown as grpc.ServiceDefinition,
        bindService(definition, handlers, { logger, interceptors: chain([]) }),
      );
      this.publicHealth.setStatus(serviceName, "NOT_SERVING");
      this.publicNames.push(serviceName);
    }
    this.serviceNames.push(serviceName);
    return this;
  }

  /** The mesh identities this process serves: the domain of each service's package (weelo.booking.v1 → booking). */
  get identities(): string[] {
    return [...new Set(this.serviceNames.map((name) => name.split(".")[1]!))];
  }

  /** The bound ports once listening. */
  get boundPorts(): BoundPorts | undefined {
    return this.ports;
  }

  /** Binds both listeners and starts serving; resolves with the bound ports (useful with port 0). */
  async listen(addresses: ListenAddresses): Promise<BoundPorts> {
    if (this.publicNames.length > 0) this.serveReflection();
    const credentials = await this.options.mesh.serverCredentials(this.identities);
    const [publicPort, meshPort] = await Promise.all([
      bind(
        this.publicServer,
        `${addresses.publicHost}:${addresses.publicPort}`,
        grpc.ServerCredentials.createInsecure(),
      ),
      bind(this.meshServer, `${addresses.meshHost}:${addresses.meshPort}`, credentials),
    ]);
    this.ports = { publicPort, meshPort };
    this.started = true;
    this.setServing(true);
    this.serving = true;
    this.options.logger.info(
      {
        publicPort,
        meshPort,
        identities: this.identities,
        mesh: this.options.mesh.source,
        services: this.serviceNames,
      },
      "grpc listening: public plane (tokens) and mesh plane (mutual TLS)",
    );
    this.markListening(this.ports);
    return this.ports;
  }

  /** Flips every service's health status on both listeners (readiness probes and client health checks follow it). */
  setServing(serving: boolean): void {
    if (serving && !this.started) return; // once shutdown begins, nothing turns it back on
    const status = serving ? "SERVING" : "NOT_SERVING";
    this.publicHealth.setStatus("", status);
    this.meshHealth.setStatus("", status);
    for (const name of this.publicNames) this.publicHealth.setStatus(name, status);
    for (const name of this.serviceNames) this.meshHealth.setStatus(name, status);
  }

  /**
   * Keeps the health status true to the process's dependencies (the platform reports the
   * checks every HEALTH_WATCH_INTERVAL_MS): a failing critical one turns the services
   * NOT_SERVING until it recovers, so callers (the gateway's readiness, load balancers) stop
   * sending work a service cannot do. Ignored once the server stopped.
   */
  reportHealth(healthy: boolean): void {
    if (!this.started || healthy === this.serving) return;
    this.serving = healthy;
    this.setServing(healthy);
    const log = healthy ? this.options.logger.info : this.options.logger.warn;
    log.call(
      this.options.logger,
      healthy ? "dependencies recovered: SERVING" : "a critical dependency is failing: NOT_SERVING",
    );
  }

  /** Health turns NOT_SERVING, in-flight calls may finish until the bound, then the rest are cut. */
  async shutdown(timeoutMs: number): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.setServing(false);
    await Promise.all(
      [this.publicServer, this.meshServer].map((server) => drain(server, timeoutMs, this.options.logger)),
    );
  }

  /** Reflection over the descriptor set `buf generate` writes (real files, every import), for the public services and health. */
  private serveReflection(): void {
    addReflection(this.publicServer, [...this.publicNames, HEALTH_SERVICE]);
  }
}

function bind(server: grpc.Server, address: string, credentials: grpc.ServerCredentials): Promise<number> {
  return new Promise<number>((resolve, reject) =>
    server.bindAsync(address, credentials, (error, actual) => (error ? reject(error) : resolve(actual))),
  );
}

function drain(server: grpc.Server, timeoutMs: number, logger: Logger): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      logger.warn("grpc shutdown bound reached; cancelling remaining calls");
      server.forceShutdown();
      resolve();
    }, timeoutMs);
    timer.unref();
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
