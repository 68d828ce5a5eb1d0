/**
 * The gRPC server every service runs: its services behind the standard interceptor chain,
 * grpc.health.v1 (one status per service, plus "" for the whole server) and server reflection,
 * so grpcurl and `buf curl` work without local protos. Shutdown drains within a bound.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import type { TokenVerifier } from "@weelo/auth";
import type { Logger } from "@weelo/log";
import type { Metrics } from "@weelo/metrics";
import { HealthImplementation } from "grpc-health-check";
import { deadlineInterceptor } from "./interceptors/deadline.js";
import { loggingInterceptor } from "./interceptors/logging.js";
import { metricsInterceptor } from "./interceptors/metrics.js";
import { principalInterceptor } from "./interceptors/principal.js";
import { requestContextInterceptor } from "./interceptors/request-context.js";
import { tracingInterceptor } from "./interceptors/tracing.js";
import type { ServerInterceptor } from "./interceptors/types.js";
import { bindService, splitPath, type ServiceDefinition, type ServiceHandlers } from "./service.js";

/** Where the .proto sources live, for reflection. */
export const PROTO_ROOT = fileURLToPath(new URL("../../../proto", import.meta.url));

export interface GrpcServerOptions {
  logger: Logger;
  metrics: Metrics;
  verifier: TokenVerifier;
  /** Extra interceptors, run innermost (after authentication). */
  interceptors?: ServerInterceptor[];
}

export interface AddServiceOptions {
  /** Methods (proto names, e.g. "SendOtp") callable without an access token. */
  publicMethods?: readonly string[];
}

export class GrpcServer {
  readonly server: grpc.Server;
  private readonly health = new HealthImplementation({ "": "NOT_SERVING" });
  private readonly serviceNames: string[] = [];
  private started = false;
  private serving = false;

  constructor(private readonly options: GrpcServerOptions) {
    this.server = new grpc.Server({
      // Mobile networks drop idle connections silently: ping to notice dead peers.
      "grpc.keepalive_time_ms": 30_000,
      "grpc.keepalive_timeout_ms": 10_000,
      "grpc.keepalive_permit_without_calls": 1,
      "grpc.http2.min_ping_interval_without_data_ms": 10_000,
      "grpc.max_receive_message_length": 4 * 1024 * 1024,
      // No grpc.max_connection_age_ms: with it, every stream the gateway relayed (drivers'
      // StreamLocation, WatchBooking, WatchOffers) failed at once when the age came (seen by
      // the simulator at 5 minutes), and drivers stream all day.
    });
    this.health.addToServer(this.server);
  }

  addService<D extends ServiceDefinition>(definition: D, handlers: ServiceHandlers<D>, options: AddServiceOptions = {}): this {
    const firstMethod = Object.values(definition)[0];
    if (!firstMethod) throw new Error("a service needs at least one method");
    const [serviceName] = splitPath(firstMethod.path);
    const publicMethods = new Set(options.publicMethods ?? []);
    const interceptors: ServerInterceptor[] = [
      tracingInterceptor,
      requestContextInterceptor,
      loggingInterceptor,
      metricsInterceptor(this.options.metrics),
      deadlineInterceptor,
      principalInterceptor(this.options.verifier, (method) => publicMethods.has(method)),
      ...(this.options.interceptors ?? []),
    ];
    this.server.addService(
      definition as unknown as grpc.ServiceDefinition,
      bindService(definition, handlers, { logger: this.options.logger, interceptors }),
    );
    this.serviceNames.push(serviceName);
    this.health.setStatus(serviceName, "NOT_SERVING");
    return this;
  }

  /** Binds and starts serving; resolves with the bound port (useful with port 0). */
  async listen(host: string, port: number): Promise<number> {
    if (this.serviceNames.length > 0) this.addReflection();
    const bound = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (error, actual) =>
        error ? reject(error) : resolve(actual),
      ),
    );
    this.started = true;
    this.setServing(true);
    this.serving = true;
    this.options.logger.info({ port: bound, services: this.serviceNames }, "grpc server listening");
    return bound;
  }

  /** Flips every service's health status (readiness probes and client health checks follow it). */
  setServing(serving: boolean): void {
    if (serving && !this.started) return; // once shutdown begins, nothing turns it back on
    const status = serving ? "SERVING" : "NOT_SERVING";
    this.health.setStatus("", status);
    for (const name of this.serviceNames) this.health.setStatus(name, status);
  }

  /**
   * Keeps the health status true to the process's dependencies: every interval the checks
   * run, and a failing critical one turns the services NOT_SERVING until it recovers, so
   * callers (the gateway's readiness, load balancers) stop sending work a service cannot do.
   */
  watchHealth(check: () => Promise<boolean>, intervalMs = 5000): void {
    const timer = setInterval(() => {
      if (!this.started) return clearInterval(timer);
      check().then(
        (healthy) => {
          if (healthy === this.serving || !this.started) return;
          this.serving = healthy;
          this.setServing(healthy);
          const log = healthy ? this.options.logger.info : this.options.logger.warn;
          log.call(this.options.logger, healthy ? "dependencies recovered: SERVING" : "a critical dependency is failing: NOT_SERVING");
        },
        () => undefined,
      );
    }, intervalMs);
    timer.unref();
  }

  /** Health turns NOT_SERVING, in-flight calls may finish until the bound, then the rest are cut. */
  async shutdown(timeoutMs: number): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.setServing(false);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.options.logger.warn("grpc shutdown bound reached; cancelling remaining calls");
        this.server.forceShutdown();
        resolve();
      }, timeoutMs);
      timer.unref();
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private addReflection(): void {
    const files = protoFiles(join(PROTO_ROOT, "weelo"));
    const definition = protoLoader.loadSync(files, { includeDirs: [PROTO_ROOT], keepCase: true });
    new ReflectionService(definition, { services: this.serviceNames }).addToServer(this.server);
  }
}

function protoFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? protoFiles(join(dir, entry.name)) : entry.name.endsWith(".proto") ? [join(dir, entry.name)] : [],
  );
}
