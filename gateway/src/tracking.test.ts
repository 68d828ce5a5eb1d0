/**
 * Tracking through the gateway's one port: a registered driver's bidirectional
 * StreamLocation relayed both ways (gRPC over h2c), acks for what was stored, duplicates
 * acked but not stored twice, the REST alias for clients that cannot stream, and refusals.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { TrackingServiceClient, type StreamLocationResponse } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_service";
import { until } from "@weelo/testing";
import { startTestSystem, uniquePhone, type TestSystem } from "./test-support.js";

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe("tracking through the gateway", () => {
  let system: TestSystem;
  let driverToken: string;
  before(async () => {
    system = await startTestSystem({ OTP_RESEND_COOLDOWN_S: "0" });
    const transporter = await system.login("transporter");
    const phone = uniquePhone();
    const added = await system.connect("/weelo.fleet.v1.DriverService/AddDriver", { idempotencyKey: randomUUID(), name: "Ganesh Jadhav", phone, licenceNumber: "MH12 20170012345" }, bearer(transporter.accessToken));
    assert.equal(added.status, 200, JSON.stringify(added.body));
    driverToken = (await system.login("driver", phone)).accessToken;
  });
  after(async () => {
    await system?.stop();
  });

  const point = (seq: number, lat: number) => ({ seq, recordedAt: new Date(), lat, lng: 73.8567, accuracyM: 8, speedMps: 10, heading: 90 });

  it("relays a driver's location stream both ways and acks cumulatively", async () => {
    const client = new TrackingServiceClient(`127.0.0.1:${system.gatewayPort}`, grpc.credentials.createInsecure());
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${driverToken}`);
    const call = client.streamLocation(metadata);
    const acks: number[] = [];
    call.on("data", (message: StreamLocationResponse) => {
      if (message.kind?.$case === "ack") acks.push(message.kind.value.ackedSeq);
    });
    const ended = new Promise<void>((resolve) => call.on("error", () => resolve()).on("end", () => resolve()));
    try {
      call.write({ points: [point(1, 18.5204), point(2, 18.5206), point(3, 18.5208)] });
      await until("the batch is acked", () => acks.includes(3));
      call.write({ points: [point(2, 18.5206), point(3, 18.5208)] }); // a re-send after a reconnect
      call.write({ points: [point(4, 18.521)] });
      await until("the next point is acked", () => acks.includes(4));
      assert.deepEqual(acks, [...acks].sort((a, b) => a - b), "acks never go backwards");
    } finally {
      call.cancel(); // the app going away
      await ended;
      client.close();
    }
  });

  it("takes points over the REST alias and refuses other roles", async () => {
    const sent = await system.rest("POST", "/api/v1/tracking/location", { points: [{ ...point(10, 18.5212), recordedAt: new Date().toISOString() }] }, bearer(driverToken));
    assert.equal(sent.status, 200, JSON.stringify(sent.body));
    assert.equal(Number(sent.body.data.ackedSeq), 10);

    const customer = await system.login("customer");
    const refused = await system.rest("POST", "/api/v1/tracking/location", { points: [{ ...point(1, 18.52), recordedAt: new Date().toISOString() }] }, bearer(customer.accessToken));
    assert.equal(refused.status, 403);
    assert.equal((await system.rest("GET", `/api/v1/tracking/${randomUUID()}`, undefined, bearer(customer.accessToken))).status, 404, "no such trip for this customer");
    assert.equal((await system.rest("POST", "/api/v1/tracking/location", { points: [] })).status, 401);
  });
});
