/**
 * Overload protection through the gateway's one port: beyond the concurrency limit and its
 * short line a call is refused at once (REST 503, Connect and gRPC RESOURCE_EXHAUSTED, all
 * with Retry-After), a waiting call honours its own deadline, waiting calls run when permits
 * free up, and per-IP and per-user rate limits answer 429 with the RateLimit headers. The
 * limit and its line are unit-tested in libs/resilience (adaptive-limiter.test.ts), the gate
 * at the port in the gateway (gateway/src/overload/http-admission.test.ts).
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { request as httpRequest, type ClientRequest } from "node:http";
import { after, before, describe, it } from "node:test";
import { createClient as createConnectClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { BookingService } from "@weelo/contracts/es/weelo/booking/v1/booking_service_pb";
import { ProfileServiceClient } from "@weelo/contracts/grpc/weelo/identity/v1/profile_service";
import { until } from "@weelo/testing";
import { startTestSystem, type TestSystem } from "./test-support.js";

const GET_ME = "/weelo.identity.v1.ProfileService/GetMe";
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function metric(system: TestSystem, line: RegExp): Promise<number> {
  const text = await (await fetch(`${system.adminUrl}/metrics`)).text();
  const found = text.split("\n").find((l) => line.test(l));
  return found ? Number(found.split(" ").at(-1)) : 0;
}

function grpcGetMe(system: TestSystem, token: string): Promise<grpc.ServiceError | undefined> {
  const client = new ProfileServiceClient(`127.0.0.1:${system.gatewayPort}`, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  return new Promise((resolve) =>
    client.getMe({}, metadata, (error) => {
      client.close();
      resolve(error ?? undefined);
    }),
  );
}

describe("overload protection through the gateway", () => {
  let system: TestSystem;
  let token: string;
  before(async () => {
    system = await startTestSystem({
      OTP_RESEND_COOLDOWN_S: "0",
      QUEUE_DEFAULT_CONCURRENCY: "1",
      QUEUE_DEFAULT_MAX_QUEUED: "2",
      // Long enough for the test to look at the line (the default is a few milliseconds).
      QUEUE_MAX_WAIT_MS: "10000",
      QUEUE_BOOKING_CONCURRENCY: "1",
      MAX_OPEN_STREAMS: "1",
    });
    token = (await system.login("customer")).accessToken;
  });
  after(async () => {
    await system?.stop();
  });

  /** A REST call whose body never ends: it holds its default-class slot until `finish()`. */
  function holdSlot(): { finish(): Promise<number> } {
    let req: ClientRequest;
    const answered = new Promise<number>((resolve, reject) => {
      req = httpRequest(
        `${system.url}/api/v1/vehicles`,
        { method: "POST", headers: { "content-type": "application/json", "content-length": "2" } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.write("{");
    });
    return {
      finish() {
        req.end("}");
        return answered;
      },
    };
  }

  it("queues, sheds beyond the queue with Retry-After on every protocol, and honours deadlines", async () => {
    const holder = holdSlot();
    await until(
      "the slow call holds the only slot",
      async () => (await metric(system, /^weelo_gateway_queue_active\{class="default"\}/)) === 1,
    );
    assert.equal(
      await metric(system, /^weelo_gateway_concurrency_limit\{class="default"\}/),
      1,
      "the class's limit never exceeds its QUEUE_DEFAULT_CONCURRENCY",
    );

    const started = Date.now();
    const late = await system.connect(GET_ME, {}, { ...bearer(token), "connect-timeout-ms": "300" });
    assert.equal(late.body?.code, "deadline_exceeded", JSON.stringify(late.body));
    assert.ok(Date.now() - started >= 250, "it waited for its deadline, not less");

    const queued = [system.connect(GET_ME, {}, bearer(token)), system.connect(GET_ME, {}, bearer(token))];
    await until(
      "two calls wait in line",
      async () => (await metric(system, /^weelo_gateway_queue_depth\{class="default"\}/)) === 2,
    );

    const shedStarted = Date.now();
    const connectShed = await system.connect(GET_ME, {}, bearer(token));
    assert.equal(connectShed.status, 429);
    assert.equal(connectShed.body.code, "resource_exhausted");
    assert.equal(connectShed.headers.get("retry-after"), "1");
    const restShed = await system.rest("GET", "/api/v1/vehicles", undefined, bearer(token));
    assert.equal(restShed.status, 503);
    assert.equal(restShed.body.error.code, "OVERLOADED");
    assert.equal(restShed.headers.get("retry-after"), "1");
    const grpcShed = await grpcGetMe(system, token);
    assert.equal(grpcShed?.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.ok(Date.now() - shedStarted < 2000, "refusals are immediate, not a hang");

    assert.equal(await holder.finish(), 401, "the slow call itself is answered (it had no token)");
    for (const answer of await Promise.all(queued))
      assert.equal(answer.status, 200, "queued calls run once slots free up");

    assert.ok((await metric(system, /^weelo_gateway_shed_total\{class="default",reason="queue_full"\}/)) >= 3);
    assert.equal(await metric(system, /^weelo_gateway_shed_total\{class="default",reason="deadline"\}/), 1);
    assert.equal(await metric(system, /^weelo_gateway_queue_active\{class="default"\}/), 0);
  });

  it("counts streams apart: an open stream holds no unary slot, and streams beyond the cap are refused", async () => {
    const place = { lat: 18.5286, lng: 73.8743 };
    const quote = await system.rest(
      "POST",
      "/api/v1/quotes",
      { pickup: place, drop: { lat: 18.5912, lng: 73.7389 }, vehicleType: "pickup_8ft", vehicleCount: 1 },
      bearer(token),
    );
    assert.equal(quote.status, 201, JSON.stringify(quote.body));
    const stop = {
      line1: "Plot 12, MIDC",
      city: "Pune",
      state: "Maharashtra",
      pincode: "411001",
      location: place,
      contactName: "Anil Shinde",
      contactPhone: "+919876543210",
    };
    const created = await system.rest(
      "POST",
      "/api/v1/bookings",
      {
        quoteToken: quote.body.data.quoteToken,
        pickup: stop,
        drop: { ...stop, location: { lat: 18.5912, lng: 73.7389 } },
        vehicleType: "pickup_8ft",
        vehicleCount: 1,
        goodsType: "furniture",
        weightKg: 800,
        idempotencyKey: randomUUID(),
      },
      bearer(token),
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const bookingId = created.body.data.order.bookings[0].id as string;

    const watcher = createConnectClient(
      BookingService,
      createConnectTransport({ baseUrl: system.url, httpVersion: "1.1" }),
    );
    const abort = new AbortController();
    let first = false;
    const watching = (async () => {
      try {
        for await (const _ of watcher.watchBooking({ bookingId }, { headers: bearer(token), signal: abort.signal }))
          first = true;
      } catch (error) {
        if (!abort.signal.aborted) throw error;
      }
    })();
    await until("the stream is open", () => first);
    assert.equal(await metric(system, /^weelo_gateway_open_streams /), 1);
    const read = await system.rest("GET", `/api/v1/bookings/${bookingId}`, undefined, bearer(token));
    assert.equal(read.status, 200, "the booking class's only unary slot is free while the stream runs");
    await assert.rejects(
      (async () => {
        for await (const _ of watcher.watchBooking({ bookingId }, { headers: bearer(token) })) break;
      })(),
      (error: any) => error.code === 8 /* resource_exhausted */,
      "a stream beyond MAX_OPEN_STREAMS is refused",
    );
    abort.abort();
    await watching;
    await until(
      "the stream slot is released",
      async () => (await metric(system, /^weelo_gateway_open_streams /)) === 0,
    );
  });

  it("keeps endpoint classes apart: a full default queue does not stop logins", async () => {
    const holder = holdSlot();
    await until(
      "the slow call holds the only default slot",
      async () => (await metric(system, /^weelo_gateway_queue_active\{class="default"\}/)) === 1,
    );
    const other = await system.login("customer");
    assert.ok(other.accessToken, "auth calls have their own queue");
    assert.equal(await holder.finish(), 401);
  });
});

describe("rate limits through the gateway", () => {
  let system: TestSystem;
  before(async () => {
    system = await startTestSystem({
      OTP_RESEND_COOLDOWN_S: "0",
      RATE_LIMIT_DEFAULT_PER_USER: "3",
      RATE_LIMIT_AUTH_PER_IP: "6",
    });
  });
  after(async () => {
    await system?.stop();
  });

  it("answers 429 with RateLimit headers per user on Connect, REST and gRPC, and per address on logins", async () => {
    const first = await system.login("customer");
    const second = await system.login("customer");
    const remaining: string[] = [];
    for (let i = 0; i < 3; i++) {
      const me = await system.connect(GET_ME, {}, bearer(first.accessToken));
      assert.equal(me.status, 200);
      assert.equal(me.headers.get("ratelimit-limit"), "3");
      remaining.push(me.headers.get("ratelimit-remaining")!);
    }
    assert.deepEqual(remaining, ["2", "1", "0"]);

    const limited = await system.connect(GET_ME, {}, bearer(first.accessToken));
    assert.equal(limited.status, 429);
    assert.equal(limited.body.code, "resource_exhausted");
    assert.equal(limited.headers.get("ratelimit-remaining"), "0");
    const reset = Number(limited.headers.get("ratelimit-reset"));
    assert.ok(reset >= 1 && reset <= 60, `reset within the window, got ${reset}`);
    assert.equal(limited.headers.get("retry-after"), String(reset));

    const rest = await system.rest("GET", "/api/v1/vehicles", undefined, bearer(first.accessToken));
    assert.equal(rest.status, 429);
    assert.equal(rest.body.error.code, "RATE_LIMITED");
    assert.equal(rest.headers.get("ratelimit-limit"), "3");
    assert.ok(Number(rest.headers.get("retry-after")) >= 1);
    assert.equal((await grpcGetMe(system, first.accessToken))?.code, grpc.status.RESOURCE_EXHAUSTED);

    assert.equal(
      (await system.connect(GET_ME, {}, bearer(second.accessToken))).status,
      200,
      "another user has their own budget",
    );

    // Four auth calls so far from 127.0.0.1; the budget is six.
    assert.equal(
      (await system.rest("POST", "/api/v1/auth/send-otp", { phone: "9876512345", role: "customer" })).status,
      200,
    );
    assert.equal(
      (await system.rest("POST", "/api/v1/auth/send-otp", { phone: "9876512346", role: "customer" })).status,
      200,
    );
    const flood = await system.rest("POST", "/api/v1/auth/send-otp", { phone: "9876512347", role: "customer" });
    assert.equal(flood.status, 429);
    assert.equal(flood.headers.get("ratelimit-limit"), "6");
    assert.ok(
      (await (await fetch(`${system.adminUrl}/metrics`)).text()).includes(
        'weelo_gateway_rate_limited_total{class="auth",scope="ip"} 1',
      ),
    );
  });
});
