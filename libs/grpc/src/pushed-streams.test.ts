/**
 * The opt-in stream forms of bindService: requests listened to (RequestStream.listen) and
 * responses pushed to a sink (PushedResponses), on a real grpc-js server without interceptors.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import {
  TrackingServiceService,
  type StreamLocationRequest,
  type StreamLocationResponse,
} from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_service";
import { capturingLogger } from "@weelo/testing";
import {
  bindService,
  tolerantDefinition,
  type PushedResponses,
  type RequestStream,
  type ResponseSink,
  type ServiceHandlers,
} from "./service.js";

/** Acks each message's last seq; after the caller's half-close, one more ack (seq 0), then OK. */
class EchoAcks implements PushedResponses<StreamLocationResponse> {
  private sink: ResponseSink<StreamLocationResponse> | undefined;
  private done: (() => void) | undefined;
  gone = false;

  constructor(requests: RequestStream<StreamLocationRequest>) {
    requests.listen({
      message: (request) => this.ack(request.points.at(-1)?.seq ?? 0),
      end: () => {
        this.ack(0);
        this.done?.();
      },
      error: () => undefined,
    });
  }

  pipeTo(sink: ResponseSink<StreamLocationResponse>): Promise<void> {
    this.sink = sink;
    sink.onGone(() => {
      this.gone = true;
      this.done?.();
    });
    return new Promise((resolve) => (this.done = resolve));
  }

  private ack(ackedSeq: number): void {
    this.sink?.write({ kind: { $case: "ack", value: { ackedSeq, rejected: 0, rejections: [] } } });
  }
}

describe("pushed and listened streams", () => {
  let server: grpc.Server;
  let client: grpc.Client;
  const producers: EchoAcks[] = [];

  before(async () => {
    const unused = async () => {
      throw new Error("not in this test");
    };
    const handlers: ServiceHandlers<typeof TrackingServiceService> = {
      async streamLocation(requests) {
        const producer = new EchoAcks(requests);
        producers.push(producer);
        return producer;
      },
      updateLocation: unused,
      getLocation: unused,
      getTripPath: unused,
      async *watchLocation() {},
    };
    server = new grpc.Server();
    server.addService(
      tolerantDefinition(TrackingServiceService),
      bindService(TrackingServiceService, handlers, { logger: capturingLogger().logger, interceptors: [] }),
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
    client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  });

  after(() => {
    client.close();
    server.forceShutdown();
  });

  const open = () => {
    const { path, requestSerialize, responseDeserialize } = TrackingServiceService.streamLocation;
    const call = client.makeBidiStreamRequest(path, requestSerialize, responseDeserialize) as grpc.ClientDuplexStream<
      StreamLocationRequest,
      StreamLocationResponse
    >;
    const acks: number[] = [];
    call.on("data", (response: StreamLocationResponse) => {
      if (response.kind?.$case === "ack") acks.push(response.kind.value.ackedSeq);
    });
    const status = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
    call.on("error", () => undefined);
    return { call, acks, status };
  };
  const point = (seq: number) => ({ points: [{ seq, lat: 18.5, lng: 73.8, accuracyM: 5, speedMps: 0, heading: 0 }] });

  it("answers each message as it is read, writes after the caller's half-close, then ends OK", async () => {
    const { call, acks, status } = open();
    for (let seq = 1; seq <= 3; seq++) call.write(point(seq));
    call.end();
    assert.equal((await status).code, grpc.status.OK);
    assert.deepEqual(acks, [1, 2, 3, 0]);
  });

  it("tells the producer when the caller goes away", async () => {
    const { call, acks } = open();
    call.write(point(7));
    while (acks.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const producer = producers.at(-1)!;
    call.cancel();
    while (!producer.gone) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.deepEqual(acks, [7]);
  });
});
