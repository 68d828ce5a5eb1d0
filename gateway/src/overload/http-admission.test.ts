/**
 * The overload gate at the port, on a real HTTP server with a stand-in handler: a call beyond
 * the limit is refused before the handler (Connect, gRPC-Web, REST forms, Retry-After, CORS),
 * a call that waited hands on only the deadline it has left, a stream takes a stream slot and
 * never a unary permit, and permits go back when responses end.
 */
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { request } from "node:http";
import { after, before, describe, it } from "node:test";
import { BookingService } from "@weelo/contracts/es/weelo/booking/v1/booking_service_pb";
import { ProfileService } from "@weelo/contracts/es/weelo/identity/v1/profile_service_pb";
import client from "prom-client";
import { createOnePortServer, type OnePortServer } from "../one-port.js";
import { Admission, type AdmissionSettings } from "./admission.js";
import { admissionRoutesOf, HttpAdmission } from "./http-admission.js";

const GET_ME = "/weelo.identity.v1.ProfileService/GetMe";
const WATCH = "/weelo.booking.v1.BookingService/WatchBooking";

function settings(): AdmissionSettings {
  const queue = { concurrency: 1, maxQueued: 1 };
  return {
    queues: { default: queue, booking: queue, tracking: queue, auth: queue },
    maxQueueWaitMs: 5000,
    overloadedQueueWaitMs: 5000,
    adaptive: { enabled: false, minLimit: 1, initialLimit: 1, tolerance: 1.5, maxLoopLagMs: 0 },
    maxOpenStreams: 1,
    rateLimits: { enabled: false, windowSeconds: 60, perIp: {} as never, perUser: {} as never },
  };
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

describe("the overload gate at the port", () => {
  let server: OnePortServer;
  let base: string;
  const seen: { path: string; timeout: string | undefined }[] = [];
  /** Requests the handler holds open until told. */
  const held: (() => void)[] = [];

  before(async () => {
    const registry = new client.Registry();
    const admission = new Admission(settings(), {
      metrics: { registry } as never,
      cache: { redisClient: () => undefined } as never,
      config: { CACHE_KEY_PREFIX: "t:" } as never,
    });
    const gate = new HttpAdmission(
      admission,
      admissionRoutesOf([ProfileService, BookingService], [{ path: "/api/v1/vehicles", service: ProfileService }]),
      new Set(["https://app.example"]),
    );
    server = createOnePortServer(
      (req, res) => {
        seen.push({ path: req.url ?? "", timeout: req.headers["connect-timeout-ms"] as string | undefined });
        held.push(() => res.end("{}"));
      },
      { admit: (req, res) => gate.admit(req, res) },
    );
    await new Promise<void>((resolve) => server.server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
  });
  after(() => server.close(100));

  function call(path: string, headers: Record<string, string>, body?: string): Promise<Answer> & { abort(): void } {
    let req: ReturnType<typeof request>;
    const answer = new Promise<Answer>((resolve, reject) => {
      req = request(`${base}${path}`, { method: "POST", headers }, (res) => {
        let text = "";
        res.setEncoding("latin1");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      });
      req.on("error", reject);
      // No body at all for the slow call: the gate must not wait for one.
      if (body !== undefined) req.end(body);
      else req.flushHeaders();
    });
    return Object.assign(answer, { abort: () => req.destroy() });
  }
  const until = async (what: () => boolean) => {
    for (let i = 0; i < 200 && !what(); i++) await new Promise((r) => setTimeout(r, 5));
    assert.ok(what());
  };

  it("refuses beyond the limit before the handler, in each protocol's form, with Retry-After", async () => {
    const slow = call(GET_ME, { "content-type": "application/json" }); // its body never comes
    await until(() => seen.length === 1);
    const waiting = call(GET_ME, { "content-type": "application/json" }, "{}");
    await new Promise((r) => setTimeout(r, 20));

    const connect = await call(GET_ME, { "content-type": "application/json", origin: "https://app.example" }, "{}");
    assert.equal(connect.status, 429);
    const error = JSON.parse(connect.body);
    assert.equal(error.code, "resource_exhausted");
    assert.ok(error.details.some((d: { type: string }) => d.type === "google.rpc.ErrorInfo"));
    assert.equal(connect.headers["retry-after"], "1");
    assert.equal(connect.headers["access-control-allow-origin"], "https://app.example");

    const grpcWeb = await call(GET_ME, { "content-type": "application/grpc-web+proto" }, "");
    assert.equal(grpcWeb.status, 200);
    assert.equal(grpcWeb.body.charCodeAt(0), 0x80, "a trailer frame");
    assert.match(grpcWeb.body, /grpc-status: ?8/);

    const rest = await call("/api/v1/vehicles", { "content-type": "application/json", origin: "https://evil.example" });
    assert.equal(rest.status, 503);
    assert.equal(JSON.parse(rest.body).error.code, "OVERLOADED");
    assert.equal(rest.headers["retry-after"], "1");
    assert.equal(rest.headers["access-control-allow-origin"], undefined, "no CORS for an origin not allowed");

    assert.equal(seen.length, 1, "no refused call reached the handler");
    held.shift()!(); // the slow call ends: the waiting one gets its permit
    await until(() => seen.length === 2);
    held.shift()!();
    assert.equal((await waiting).status, 200);
    slow.abort();
  });

  it("hands on only the deadline left after a wait, and refuses at the deadline while waiting", async () => {
    const first = call(GET_ME, { "content-type": "application/json" }, "{}");
    await until(() => seen.length === 3);
    const started = Date.now();
    const late = await call(GET_ME, { "content-type": "application/json", "connect-timeout-ms": "60" }, "{}");
    assert.equal(JSON.parse(late.body).code, "deadline_exceeded");
    assert.ok(Date.now() - started >= 50, "it waited until its deadline");

    const patient = call(GET_ME, { "content-type": "application/json", "connect-timeout-ms": "3000" }, "{}");
    await new Promise((r) => setTimeout(r, 150));
    held.shift()!();
    await first;
    await until(() => seen.length === 4);
    const handedOn = Number(seen[3]!.timeout);
    // The server counts the wait from the request's arrival, which a loaded machine delays past
    // the client's send: the 150 ms held here is an upper bound of what it saw.
    assert.ok(handedOn < 2990 && handedOn > 2000, `the wait came off the deadline: ${handedOn}`);
    held.shift()!();
    assert.equal((await patient).status, 200);
  });

  it("counts a stream apart: it takes no unary permit, and streams beyond the cap are refused", async () => {
    const stream = call(WATCH, { "content-type": "application/connect+json" }, "");
    await until(() => seen.length === 5);
    const unary = call(GET_ME, { "content-type": "application/json" }, "{}");
    await until(() => seen.length === 6);
    const refused = await call(WATCH, { "content-type": "application/connect+json" }, "");
    assert.equal(refused.status, 200);
    assert.equal(refused.body.charCodeAt(0), 0b10, "an end-stream message");
    assert.match(refused.body, /resource_exhausted/);
    held.shift()!();
    held.shift()!();
    await Promise.all([stream, unary]);
  });
});
