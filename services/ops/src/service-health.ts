/**
 * GetServiceHealth: each service's grpc.health.v1 Check over the mesh (mutual TLS, as the ops
 * service), all at once, each bounded by a short deadline, and this process's own checks. The
 * two tiny health messages are encoded by hand: HealthCheckRequest{service=1}, HealthCheckResponse{status=1}.
 */
import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import * as grpc from "@grpc/grpc-js";
import { ServiceStatus, type ServiceHealth } from "@weelo/contracts/grpc/weelo/ops/v1/ops";

const SERVING = 1;

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
      return new Promise((resolve) => {
        channel.makeUnaryRequest(
          "/grpc.health.v1.Health/Check",
          (service: string) => Buffer.from(new BinaryWriter().uint32(10).string(service).finish()),
          (bytes: Buffer) => {
            const reader = new BinaryReader(bytes);
            let status = 0;
            while (reader.pos < reader.len) {
              const tag = reader.uint32();
              if (tag === 8) status = reader.int32();
              else reader.skip(tag & 7);
            }
            return status;
          },
          serviceName,
          new grpc.Metadata(),
          { deadline: Date.now() + timeoutMs },
          (error, status) => {
            if (error?.code === grpc.status.DEADLINE_EXCEEDED || error?.code === grpc.status.UNAVAILABLE)
              resolve(answer(ServiceStatus.SERVICE_STATUS_UNREACHABLE, error.details || error.message));
            else if (error) resolve(answer(ServiceStatus.SERVICE_STATUS_NOT_SERVING, error.details || error.message));
            else if (status !== SERVING) resolve(answer(ServiceStatus.SERVICE_STATUS_NOT_SERVING, "NOT_SERVING"));
            else resolve(answer(ServiceStatus.SERVICE_STATUS_SERVING));
          },
        );
      });
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
