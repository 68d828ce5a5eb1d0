/**
 * A grpc.health.v1 Check from any grpc-js client (the gateway's upstream checks, the ops
 * service's health page). The two tiny messages are encoded by hand, HealthCheckRequest{service=1}
 * and HealthCheckResponse{status=1}, so no health proto needs loading.
 */
import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import * as grpc from "@grpc/grpc-js";

/** grpc.health.v1 ServingStatus.SERVING. */
export const HEALTH_SERVING = 1;

/**
 * Asks `client`'s server for the health of `service` ("" = the whole server). Resolves with the
 * ServingStatus number it answered; rejects with the call's ServiceError (UNAVAILABLE,
 * DEADLINE_EXCEEDED after `timeoutMs`, ...).
 */
export function checkHealth(client: grpc.Client, service: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      "/grpc.health.v1.Health/Check",
      (name: string) => Buffer.from(new BinaryWriter().uint32(10).string(name).finish()),
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
      service,
      new grpc.Metadata(),
      { deadline: Date.now() + timeoutMs },
      (error, status) => (error ? reject(error) : resolve(status ?? 0)),
    );
  });
}
