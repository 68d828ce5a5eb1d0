/** grpc.health.v1 checks of the upstream services, over long-lived mesh channels (mutual TLS). */
import * as grpc from "@grpc/grpc-js";
import { checkHealth, HEALTH_SERVING } from "@weelo/grpc";

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
  async check(service = "", timeoutMs = 2000): Promise<void> {
    let status: number;
    try {
      status = await checkHealth(this.client, service, timeoutMs);
    } catch (error) {
      const failure = error as grpc.ServiceError;
      throw new Error(`${this.address}: ${failure.details || failure.message}`);
    }
    if (status !== HEALTH_SERVING) throw new Error(`${this.address}: NOT_SERVING`);
  }

  close(): void {
    this.client.close();
  }
}
