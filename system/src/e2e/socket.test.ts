/**
 * The /socket WebSocket through the gateway's one port, with a real WebSocket client: a
 * customer follows a booking and receives its status changes (dispatch assigns over internal
 * gRPC) and the truck's positions (sent by the driver through the gateway); bad JSON, unknown
 * frames, frames before authentication, unknown and foreign bookings each get an error
 * frame; a bad token is refused (4401), a silent peer is dropped, subscriptions are capped,
 * and shutdown tells clients to reconnect (1012).
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { BookingDispatchServiceService } from "@weelo/contracts/grpc/weelo/booking/v1/booking_dispatch_service";
import type { ServiceClient } from "@weelo/grpc";
import { until } from "@weelo/testing";
import { WebSocket } from "ws";
import { address, bearer, HINJEWADI, PUNE, startTestSystem, uniquePhone, type TestSystem } from "./test-support.js";

interface TestSocket {
  ws: WebSocket;
  frames: any[];
  /** The first frame (from `from` on) that matches, waiting for it. */
  frame(what: string, match: (frame: any) => boolean, from?: number): Promise<any>;
  closed: Promise<{ code: number; reason: string }>;
  send(frame: unknown): void;
}

/** Each socket comes from its own client address (the gateway trusts X-Forwarded-For here), so per-IP budgets do not add up across tests. */
let addresses = 0;

function openSocket(
  system: TestSystem,
  query = "",
  options: { autoPong?: boolean; address?: string } = {},
): Promise<TestSocket> {
  addresses += 1;
  const headers = { "x-forwarded-for": options.address ?? `198.51.100.${addresses}` };
  const ws = new WebSocket(`${system.url.replace("http", "ws")}/socket${query}`, {
    headers,
    ...(options.autoPong === undefined ? {} : { autoPong: options.autoPong }),
  });
  const frames: any[] = [];
  ws.on("message", (data) => frames.push(JSON.parse(String(data))));
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once("close", (code, reason) => resolve({ code, reason: String(reason) })),
  );
  const socket: TestSocket = {
    ws,
    frames,
    closed,
    async frame(what, match, from = 0) {
      await until(what, () => frames.slice(from).some(match), 30_000).catch((error: Error) => {
        throw new Error(`${error.message}; frames so far: ${JSON.stringify(frames.slice(-5))}`);
      });
      return frames.slice(from).find(match);
    },
    send: (frame) => ws.send(typeof frame === "string" ? frame : JSON.stringify(frame)),
  };
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve(socket));
    ws.once("error", reject);
  });
}

describe("/socket through the gateway", () => {
  let system: TestSystem | undefined;
  let dispatch: ServiceClient<typeof BookingDispatchServiceService>;
  let customer: { accessToken: string; user: any };

  before(async () => {
    system = await startTestSystem({
      OTP_RESEND_COOLDOWN_S: "0",
      WATCH_POLL_MS: "100",
      SOCKET_MAX_SUBSCRIPTIONS: "3",
      SOCKET_PING_INTERVAL_MS: "500",
      SOCKET_MAX_BUFFERED_BYTES: "4096",
      SOCKET_FRAMES_PER_S: "10000",
      SOCKET_CONNECTS_PER_IP: "3",
      TRUST_PROXY: "true",
    });
    dispatch = system.platform.meshClient(BookingDispatchServiceService, `127.0.0.1:${system.meshPort}`, "dispatch");
    customer = await system.login("customer");
  });
  after(async () => {
    dispatch?.close();
    await system?.stop();
  });

  async function book(owner: { accessToken: string }): Promise<string> {
    const quote = await system!.rest(
      "POST",
      "/api/v1/quotes",
      { pickup: PUNE, drop: HINJEWADI, vehicleType: "pickup_8ft", vehicleCount: 1 },
      bearer(owner.accessToken),
    );
    assert.equal(quote.status, 201, JSON.stringify(quote.body));
    const created = await system!.rest(
      "POST",
      "/api/v1/bookings",
      {
        quoteToken: quote.body.data.quoteToken,
        pickup: address(PUNE, "Anil Shinde"),
        drop: address(HINJEWADI, "Kavita Rao"),
        vehicleType: "pickup_8ft",
        vehicleCount: 1,
        goodsType: "furniture",
        weightKg: 800,
        idempotencyKey: randomUUID(),
      },
      bearer(owner.accessToken),
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    return created.body.data.order.bookings[0].id as string;
  }

  it("refuses a bad token with an error frame and close code 4401, in the URL or in the auth frame", async () => {
    const inUrl = await openSocket(system!, "?access_token=not-a-token");
    const refused = await inUrl.frame("an error frame", (f) => f.type === "error");
    assert.equal(refused.code, "UNAUTHENTICATED");
    assert.equal((await inUrl.closed).code, 4401);

    const inFrame = await openSocket(system!);
    inFrame.send({ type: "auth", token: "eyJhbGciOiJFZERTQSJ9.e30.c2ln" });
    assert.equal((await inFrame.frame("an error frame", (f) => f.type === "error")).code, "UNAUTHENTICATED");
    assert.equal((await inFrame.closed).code, 4401);
  });

  it("answers bad JSON, unknown frame types and frames before authentication with error frames and keeps the socket", async () => {
    const socket = await openSocket(system!);
    socket.send("{not json");
    const bad = await socket.frame("bad JSON refused", (f) => f.type === "error");
    assert.deepEqual([bad.code, bad.reason], ["INVALID_ARGUMENT", "BAD_FRAME"]);
    socket.send({ type: "subscribe", bookingId: randomUUID() });
    assert.equal(
      (await socket.frame("subscribe before auth refused", (f) => f.code === "UNAUTHENTICATED")).type,
      "error",
    );
    socket.send({ type: "auth", token: customer.accessToken });
    const ready = await socket.frame("ready", (f) => f.type === "ready");
    assert.equal(ready.userId, customer.user.id);
    socket.send({ type: "teleport" });
    assert.equal(
      (await socket.frame("unknown type refused", (f) => f.reason === "UNKNOWN_FRAME_TYPE")).code,
      "INVALID_ARGUMENT",
    );
    socket.send({ type: "ping" });
    await socket.frame("pong", (f) => f.type === "pong");
    assert.equal(socket.ws.readyState, WebSocket.OPEN, "frame errors do not close the socket");
    socket.ws.close();
  });

  it("gives unknown and foreign bookings a NOT_FOUND error frame and caps subscriptions per socket", async () => {
    const bookingId = await book(customer);
    const stranger = await system!.login("customer");
    const socket = await openSocket(system!, `?access_token=${stranger.accessToken}`);
    await socket.frame("ready", (f) => f.type === "ready");

    const unknown = randomUUID();
    socket.send({ type: "subscribe", bookingId: unknown });
    const missing = await socket.frame("unknown booking refused", (f) => f.type === "error" && f.bookingId === unknown);
    assert.deepEqual([missing.code, missing.channel], ["NOT_FOUND", "status"]);
    socket.send({ type: "subscribe", bookingId });
    const foreign = await socket.frame(
      "foreign booking refused",
      (f) => f.type === "error" && f.bookingId === bookingId,
    );
    assert.equal(foreign.code, "NOT_FOUND", "someone else's booking looks like no booking");

    // Failed subscriptions hold no place; three of the stranger's own bookings fill the socket.
    const own = [await book(stranger), await book(stranger), await book(stranger)];
    for (const id of own) socket.send({ type: "subscribe", bookingId: id });
    for (const id of own)
      await socket.frame("own booking followed", (f) => f.type === "subscribed" && f.bookingId === id);
    const fourth = await book(stranger);
    socket.send({ type: "subscribe", bookingId: fourth });
    const capped = await socket.frame("the fourth is refused", (f) => f.type === "error" && f.bookingId === fourth);
    assert.deepEqual([capped.code, capped.reason], ["RESOURCE_EXHAUSTED", "TOO_MANY_SUBSCRIPTIONS"]);
    socket.send({ type: "unsubscribe", bookingId: own[0] });
    await socket.frame("unsubscribed", (f) => f.type === "unsubscribed" && f.bookingId === own[0]);
    socket.send({ type: "subscribe", bookingId: fourth });
    await socket.frame("a freed place is usable", (f) => f.type === "subscribed" && f.bookingId === fourth);
    socket.ws.close();
  });

  it("streams a booking's status changes and its truck's positions to the customer", async () => {
    const transporter = await system!.login("transporter");
    const registration = `MH14KB${String(1000 + (process.pid % 9000))}`;
    const vehicle = (
      await system!.rest(
        "POST",
        "/api/v1/vehicles",
        { idempotencyKey: randomUUID(), registrationNumber: registration, vehicleType: "pickup_8ft", capacityKg: 1250 },
        bearer(transporter.accessToken),
      )
    ).body.data.vehicle;
    const driverPhone = uniquePhone();
    const fleetDriver = (
      await system!.connect(
        "/weelo.fleet.v1.DriverService/AddDriver",
        { idempotencyKey: randomUUID(), name: "Sunil More", phone: driverPhone, licenceNumber: "MH12 20180012345" },
        bearer(transporter.accessToken),
      )
    ).body.driver;
    const driver = await system!.login("driver", driverPhone);
    const bookingId = await book(customer);

    const socket = await openSocket(system!, `?access_token=${customer.accessToken}`);
    await socket.frame("ready", (f) => f.type === "ready");
    socket.send({ type: "subscribe", bookingId });
    const subscribed = await socket.frame("the booking as it is", (f) => f.type === "subscribed");
    assert.equal(subscribed.booking.status, "BOOKING_STATUS_PENDING");

    await dispatch.confirmBooking({ bookingId, transporterId: transporter.user.id });
    await dispatch.assignBooking({
      bookingId,
      transporterId: transporter.user.id,
      driverId: fleetDriver.id,
      driverUserId: driver.user.id,
      vehicleId: vehicle.id,
    });
    await socket.frame("CONFIRMED", (f) => f.type === "status" && f.change.to === "BOOKING_STATUS_CONFIRMED");
    await socket.frame("ASSIGNED", (f) => f.type === "status" && f.change.to === "BOOKING_STATUS_ASSIGNED");

    // The driver reports until the customer sees the truck (tracking learns of the trip from booking's event).
    const start = Date.now() - 10 * 60_000;
    let seq = 0;
    const reporting = setInterval(() => {
      seq += 1;
      const point = {
        seq,
        recordedAt: new Date(start + seq * 10_000).toISOString(),
        lat: 18.52 + seq * 0.0003,
        lng: 73.8567,
        accuracyM: 8,
        speedMps: 3,
      };
      void system!.rest("POST", "/api/v1/tracking/location", { points: [point] }, bearer(driver.accessToken));
    }, 150);
    try {
      const location = await socket.frame("the truck's position", (f) => f.type === "location");
      assert.equal(location.bookingId, bookingId);
      assert.ok(location.position.location.lat > 18.52, JSON.stringify(location));
    } finally {
      clearInterval(reporting);
    }

    const moved = await system!.connect(
      "/weelo.booking.v1.BookingService/UpdateBookingStatus",
      { bookingId, status: "BOOKING_STATUS_DRIVER_EN_ROUTE", location: PUNE },
      bearer(driver.accessToken),
    );
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    await socket.frame(
      "DRIVER_EN_ROUTE",
      (f) => f.type === "status" && f.change.to === "BOOKING_STATUS_DRIVER_EN_ROUTE",
    );
    const sequences = socket.frames.filter((f) => f.type === "status").map((f) => Number(f.sequence));
    assert.deepEqual(
      sequences,
      [...sequences].sort((a, b) => a - b),
      "status changes in order",
    );
    assert.equal(
      socket.frames.filter((f) => f.type === "error").length,
      0,
      JSON.stringify(socket.frames.filter((f) => f.type === "error")),
    );
    socket.ws.close();
  });

  it("closes a client that stops reading with 4413 instead of buffering for it without end", async () => {
    const socket = await openSocket(system!, `?access_token=${customer.accessToken}`);
    await socket.frame("ready", (f) => f.type === "ready");
    const raw = (socket.ws as unknown as { _socket: import("node:net").Socket })._socket;
    raw.pause(); // the app stops reading (a stalled phone, a frozen UI thread)
    const slowClosed = async () => {
      const text = await (await fetch(`${system!.adminUrl}/metrics`)).text();
      return text.includes('weelo_socket_closed_total{reason="slow_consumer"} 1');
    };
    // Each unknown frame costs the server a ~150-byte error frame: 60,000 of them are far more
    // than the kernel's socket buffers hold, so the rest piles up in the gateway's process.
    for (let i = 0; i < 60_000; i++) socket.ws.send('{"type":"x"}');
    await until("the gateway gives up on the client", slowClosed, 30_000, 100);
    raw.resume();
    const { code } = await socket.closed;
    assert.equal(code, 4413);
  });

  it("answers 429 with RateLimit headers to an address opening sockets beyond its budget", async () => {
    const address = "203.0.113.7";
    for (let i = 0; i < 3; i++)
      (await openSocket(system!, `?access_token=${customer.accessToken}`, { address })).ws.close();
    const refused = await new Promise<{ status: number; headers: Record<string, unknown> }>((resolve, reject) => {
      const ws = new WebSocket(`${system!.url.replace("http", "ws")}/socket?access_token=${customer.accessToken}`, {
        headers: { "x-forwarded-for": address },
      });
      ws.once("unexpected-response", (_req, res) => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
      ws.once("open", () => reject(new Error("the fourth socket was accepted")));
      ws.once("error", () => undefined);
    });
    assert.equal(refused.status, 429);
    assert.equal(refused.headers["ratelimit-limit"], "3");
    assert.equal(refused.headers["ratelimit-policy"], "3;w=60", "the window comes with the limit's decision");
    assert.ok(Number(refused.headers["retry-after"]) >= 1);
    // Counted like every other admission refusal, as class "socket".
    assert.ok(
      (await (await fetch(`${system!.adminUrl}/metrics`)).text()).includes(
        'weelo_gateway_rate_limited_total{class="socket",scope="ip"} 1',
      ),
    );
    const other = await openSocket(system!, `?access_token=${customer.accessToken}`);
    await other.frame("another address is not affected", (f) => f.type === "ready");
    other.ws.close();
  });

  it("drops a peer that stops answering pings", async () => {
    const silent = await openSocket(system!, `?access_token=${customer.accessToken}`, { autoPong: false });
    const { code } = await silent.closed;
    assert.equal(code, 1006, "terminated without a close handshake");
  });

  it("tells every client to reconnect (1012) when the gateway shuts down", async () => {
    const socket = await openSocket(system!, `?access_token=${customer.accessToken}`);
    await socket.frame("ready", (f) => f.type === "ready");
    const stopping = system!.stop();
    system = undefined;
    const { code } = await socket.closed;
    assert.equal(code, 1012);
    await stopping;
  });
});
