/**
 * GetServiceHealth: each service's grpc.health.v1 Check over the mesh (mutual TLS, as the ops
 * service), all at once, each bounded by a short deadline, and this process's own checks.
 */
import * as grpc from "@grpc/grpc-js";
import { checkHealth, HEALTH_SERVING } from "@weelo/grpc";
import { ServiceStatus, type ServiceHealth } from "@weelo/contracts/grpc/weelo/ops/v1/ops";

/** One service's health as the console shows it. */
export interface HealthProbe {
  name: string;
  check(timeoutMs: number): Promise<ServiceHealth>;
  close(): void;
}

/**
 * A probe of one service over the mesh: asks the health of `serviceName` (a service of its
 * contract, so a process that hosts several answers for that one).
 */
export function meshHealthProbe(
  name: string,
  address: () => string,
  serviceName: string,
  credentials: () => grpc.ChannelCredentials,
): HealthProbe {
  let client: grpc.Client | undefined;
  let clientAddress = "";
  return {
    name,
    check(timeoutMs) {
      const started = performance.now();
      const answer = (status: ServiceStatus, detail = ""): ServiceHealth => ({
        name,
        status,
        latencyMs: Math.round(performance.now() - started),
        detail,
      });
      const target = address();
      if (/:0$/.test(target))
        return Promise.resolve(answer(ServiceStatus.SERVICE_STATUS_UNREACHABLE, "not listening yet"));
      if (!client || clientAddress !== target) {
        client?.close();
        client = new grpc.Client(target, credentials(), { "grpc.ssl_target_name_override": "weelo-mesh" });
        clientAddress = target;
      }
      const channel = client;
      return checkHealth(channel, serviceName, timeoutMs).then(
        (status) =>
          status === HEALTH_SERVING
            ? answer(ServiceStatus.SERVICE_STATUS_SERVING)
            : answer(ServiceStatus.SERVICE_STATUS_NOT_SERVING, "NOT_SERVING"),
        (error: grpc.ServiceError) =>
          error.code === grpc.status.DEADLINE_EXCEEDED || error.code === grpc.status.UNAVAILABLE
            ? answer(ServiceStatus.SERVICE_STATUS_UNREACHABLE, error.details || error.message)
            : answer(ServiceStatus.SERVICE_STATUS_NOT_SERVING, error.details || error.message),
      );
    },
    close() {
      client?.close();
    },
  };
}

/** This process's own health: its critical dependency checks (database, cache, bus). */
export function ownHealthProbe(
  name: string,
  run: (timeoutMs: number) => Promise<{ name: string; ok: boolean; critical: boolean; error?: string }[]>,
): HealthProbe {
  return {
    name,
    async check(timeoutMs) {
      const started = performance.now();
      const results = await run(timeoutMs);
      const failing = results.filter((r) => r.critical && !r.ok);
      return {
        name,
        status: failing.length === 0 ? ServiceStatus.SERVICE_STATUS_SERVING : ServiceStatus.SERVICE_STATUS_NOT_SERVING,
        latencyMs: Math.round(performance.now() - started),
        detail: failing.map((r) => `${r.name}: ${r.error ?? "failing"}`).join("; "),
      };
    },
    close() {},
  };
}

/** Every probe at once; the list keeps the probes' order. */
export async function checkServices(probes: readonly HealthProbe[], timeoutMs: number): Promise<ServiceHealth[]> {
  return Promise.all(probes.map((probe) => probe.check(timeoutMs)));
}
