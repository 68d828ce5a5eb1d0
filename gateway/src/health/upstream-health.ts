/**
 * grpc.health.v1 checks of the upstream services, over long-lived mesh channels (mutual TLS). The two
 * tiny messages are encoded by hand: HealthCheckRequest{service=1}, HealthCheckResponse{status=1}.
 */
import * as grpc from "@grpc/grpc-js";
import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";

const SERVING = 1;

export class UpstreamHealth {
  private readonly client: grpc.Client;

  /** `credentials`: the gateway's mesh client credentials for the service at that address. */
  constructor(
    readonly address: string,
    credentials: grpc.ChannelCredentials,
  ) {
    this.client = new grpc.Client(address, credentials, { "grpc.ssl_target_name_override": "weelo-mesh" });
  }

  /** Resolves when the upstream says SERVING for the service ("" = the whole server). */
  check(service = "", timeoutMs = 2000): Promise<void> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
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
        (error, status) => {
          if (error) reject(new Error(`${this.address}: ${error.details || error.message}`));
          else if (status !== SERVING) reject(new Error(`${this.address}: NOT_SERVING`));
          else resolve();
        },
      );
    });
  }

  close(): void {
    this.client.close();
  }
}
