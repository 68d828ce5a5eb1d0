/**
 * @weelo/client against the whole system in this process: login and the shared refresh
 * (rotation, reuse ending the session), reasons read from either error detail, idempotency
 * keys made once per call and kept across the SDK's retries, WatchBooking resuming after a cut
 * connection, and the driver's GPS upload on StreamLocation (surviving a cut) and in batches.
 */
import assert from "node:assert/strict";
import { type Socket, connect, createServer, type Server } from "node:net";
import { after, before, describe, it } from "node:test";
import { create, type DescMessage, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "@weelo/contracts/es/google/rpc/error_details_pb";
import { BookingStatus } from "@weelo/contracts/es/weelo/booking/v1/booking_pb";
import { until } from "@weelo/testing";
import {
  Code,
  ConnectError,
  SessionEndedError,
  type StreamBreak,
  type WeeloClient,
  createNodeWeeloClient,
  createWeeloClient,
  errorFacts,
  hasReason,
  reasonOf,
} from "./node.js";
import { startTestSystem, type TestSystem, uniquePhone } from "./test-system.js";

const PUNE = { lat: 18.5286, lng: 73.8743 };
const HINJEWADI = { lat: 18.5912, lng: 73.7389 };
const address = (location: { lat: number; lng: number }) => ({
  line1: "Plot 12, MIDC",
  city: "Pune",
  state: "Maharashtra",
  pincode: "411001",
  location,
  contactName: "Anil Shinde",
  contactPhone: `+91${uniquePhone()}`,
});

/** A TCP proxy in front of the gateway whose connections the test can cut (a network drop). */
async function cuttableProxy(
  target: string,
): Promise<{ url: string; cut(): void; hold(down: boolean): void; close(): Promise<void> }> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  let held = false;
  const server: Server = createServer((client) => {
    if (held) {
      client.destroy();
      return;
    }
    const upstream = connect({ host: hostname, port: Number(port) });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => undefined);
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${address.port}`,
    cut: () => {
      for (const socket of sockets) socket.destroy();
    },
    /** While held, the network stays down: every new connection is dropped at once. */
    hold: (down) => {
      held = down;
    },
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

async function book(customer: WeeloClient): Promise<string> {
  return (await bookOrder(customer)).bookingId;
}

async function bookOrder(customer: WeeloClient): Promise<{ bookingId: string; orderId: string }> {
  const quote = await customer.pricing.getQuote({
    pickup: PUNE,
    drop: HINJEWADI,
    vehicleType: "lcv_14ft",
    vehicleCount: 1,
  });
  const created = await customer.bookings.createBooking({
    quoteToken: quote.quoteToken,
    pickup: address(PUNE),
    drop: address(HINJEWADI),
    vehicleType: "lcv_14ft",
    vehicleCount: 1,
    goodsType: "furniture",
    weightKg: 500,
  });
  return { bookingId: created.order!.bookings[0]!.id, orderId: created.order!.id };
}

/** The driver's app, logged in at baseUrl and online with the vehicle. */
async function onlineDriver(baseUrl: string, phone: string, vehicleId: string): Promise<WeeloClient> {
  const driver = createNodeWeeloClient({ baseUrl });
  await driver.login("driver", phone);
  await driver.drivers.setAvailability({ online: true, vehicleId });
  return driver;
}

/** A new booking of the customer, offered to the transporter, accepted and given to the driver; its id. */
async function assignedBooking(
  customer: WeeloClient,
  transporter: WeeloClient,
  crew: { driverId: string; vehicleId: string },
): Promise<string> {
  const { bookingId, orderId } = await bookOrder(customer);
  let offerId = "";
  await until(
    "the offer",
    async () => {
      const { offers } = await transporter.dispatch.listOffers({});
      offerId = offers.find((offer) => offer.orderId === orderId)?.id ?? "";
      return offerId !== "";
    },
    20_000,
  );
  await transporter.dispatch.acceptOffer({ offerId, vehicleCount: 1 });
  await transporter.dispatch.assignDriver({ bookingId, ...crew });
  return bookingId;
}

/** A transporter based in Pune with a vehicle and a registered driver. */
async function fleet(
  system: TestSystem,
  baseUrl = system.url,
): Promise<{ transporter: WeeloClient; driverPhone: string; driverId: string; vehicleId: string }> {
  const transporter = createNodeWeeloClient({ baseUrl });
  await transporter.login("transporter", uniquePhone());
  await transporter.transporters.updateTransporterProfile({ baseLocation: PUNE, serviceRadiusKm: 25 });
  const { vehicle } = await transporter.vehicles.addVehicle({
    registrationNumber: `MH12SD${String(Math.floor(Math.random() * 9000) + 1000)}`,
    vehicleType: "lcv_14ft",
    capacityKg: 4000,
  });
  const driverPhone = uniquePhone();
  const { driver } = await transporter.drivers.addDriver({
    name: "Ravi Patil",
    phone: driverPhone,
    licenceNumber: "MH12 20150001234",
  });
  return { transporter, driverPhone, driverId: driver!.id, vehicleId: vehicle!.id };
}

describe("@weelo/client", () => {
  let system: TestSystem;
  before(async () => {
    system = await startTestSystem({ OTP_RESEND_COOLDOWN_S: "0" });
  });
  after(async () => {
    await system?.stop();
  });

  it("refreshes once for every caller that met the expired token, and a reused refresh token ends the session", async () => {
    const ended: SessionEndedError[] = [];
    const client = createNodeWeeloClient({ baseUrl: system.url, onSessionEnded: (error) => ended.push(error) });
    const { userId } = await client.login("customer", uniquePhone());
    const original = client.session.current!;
    // An access token the gateway refuses, as an expired one would be.
    await client.session.begin({ ...original, accessToken: "expired.token.value" });
    const answers = await Promise.all(Array.from({ length: 6 }, () => client.profile.getMe({})));
    for (const answer of answers) assert.equal(answer.user?.id, userId);
    assert.equal(client.session.refreshes, 1, "one refresh for six callers");
    assert.notEqual(client.session.current!.refreshToken, original.refreshToken, "the refresh token rotated");

    // Someone presents the spent refresh token: identity takes it for theft and ends the session.
    const thief = createNodeWeeloClient({ baseUrl: system.url });
    const stolen = await thief.auth.refreshToken({ refreshToken: original.refreshToken }).catch((e: unknown) => e);
    assert.ok(stolen instanceof ConnectError);
    assert.equal(stolen.code, Code.Unauthenticated);
    assert.equal(reasonOf(stolen), "REFRESH_TOKEN_REUSED");

    let lastFailure: unknown;
    // The app's next call: its access token is revoked, its refresh token too: the session is over.
    await until("the session to end", async () => {
      const failure = await client.profile.getMe({}).then(
        () => undefined,
        (e: unknown) => e,
      );
      lastFailure = failure;
      return failure instanceof SessionEndedError;
    }).catch((error: unknown) => {
      throw new Error(`the session did not end: the last call gave ${String(lastFailure)}`, { cause: error });
    });
    assert.equal(ended.length, 1);
    assert.equal(ended[0]!.code, Code.Unauthenticated);
    assert.match(reasonOf(ended[0]), /^(SESSION_REVOKED|REFRESH_TOKEN_REUSED)$/, "the reason is the refusal's");
    assert.equal(client.session.current, undefined, "the tokens are forgotten");
  });

  it("reads the reason and field of a refusal", async () => {
    const client = createNodeWeeloClient({ baseUrl: system.url });
    const failure = await client.auth.sendOtp({ phone: "12345", role: 1 }).catch((e: unknown) => e);
    assert.ok(failure instanceof ConnectError);
    assert.equal(failure.code, Code.InvalidArgument);
    assert.equal(reasonOf(failure), "PHONE_INVALID");
    assert.equal(errorFacts(failure).field, "phone");
    assert.ok(hasReason(failure, "PHONE_INVALID"));
  });

  it("reads the standard google.rpc details (ErrorInfo, BadRequest, RetryInfo) a refusal carries", () => {
    const error = new ConnectError("the quote expired", Code.FailedPrecondition);
    const detail = <S extends DescMessage>(schema: S, init: MessageInitShape<S>) => ({
      type: schema.typeName,
      value: toBinary(schema, create(schema, init)),
    });
    error.details.push(detail(ErrorInfoSchema, { reason: "QUOTE_EXPIRED", domain: "weelo.app" }));
    error.details.push(
      detail(BadRequestSchema, {
        fieldViolations: [{ field: "vehicle_count", description: "1 to 20", reason: "VEHICLE_COUNT_OUT_OF_RANGE" }],
      }),
    );
    error.details.push(detail(RetryInfoSchema, { retryDelay: { seconds: 7n } }));
    assert.deepEqual(errorFacts(error), {
      reason: "QUOTE_EXPIRED",
      field: "vehicle_count",
      violations: [{ field: "vehicle_count", description: "1 to 20", reason: "VEHICLE_COUNT_OUT_OF_RANGE" }],
      retryAfterSeconds: 7,
    });
    assert.equal(reasonOf(new ConnectError("no details", Code.Unavailable)), "Unavailable");
  });

  it("makes one idempotency key per call and keeps it across the SDK's retries (browser entry, over fetch)", async () => {
    const keys: string[] = [];
    let refusedOnce = false;
    const recording: typeof fetch = async (input, init) => {
      const url = String(input instanceof Request ? input.url : input);
      if (url.endsWith("/weelo.fleet.v1.VehicleService/AddVehicle")) {
        keys.push(JSON.parse(new TextDecoder().decode(init?.body as Uint8Array)).idempotencyKey);
        if (!refusedOnce) {
          refusedOnce = true;
          // The answer lost on the way back: the gateway did the work, the app saw a 503.
          await fetch(input, init);
          return new Response(JSON.stringify({ code: "unavailable", message: "lost" }), {
            status: 503,
            headers: { "content-type": "application/json" },
          });
        }
      }
      return fetch(input, init);
    };
    const client = createWeeloClient({ baseUrl: system.url, fetch: recording, retry: { initialBackoffMs: 10 } });
    await client.login("transporter", uniquePhone());
    const first = await client.vehicles.addVehicle({
      registrationNumber: "MH12AB4321",
      vehicleType: "lcv_14ft",
      capacityKg: 4000,
    });
    assert.equal(keys.length, 2, "the 503 was retried");
    assert.match(keys[0]!, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(keys[1], keys[0], "the retry carried the same key");
    const listed = await client.vehicles.listVehicles({ pageSize: 20 });
    assert.deepEqual(
      listed.vehicles.map((v) => v.id),
      [first.vehicle!.id],
      "the vehicle was added once",
    );
    await client.vehicles.addVehicle({ registrationNumber: "MH12AB4322", vehicleType: "lcv_14ft", capacityKg: 4000 });
    assert.notEqual(keys[2], keys[0], "another call, another key");
  });

  it("WatchBooking resumes after a cut connection without losing or repeating a change", async () => {
    const proxy = await cuttableProxy(system.url);
    try {
      const customer = createNodeWeeloClient({ baseUrl: proxy.url });
      await customer.login("customer", uniquePhone());
      const bookingId = await book(customer);
      const breaks: StreamBreak[] = [];
      const seen: { sequence: bigint; status: string; kind: string }[] = [];
      const watching = (async () => {
        for await (const message of customer.watchBooking(bookingId, {
          onBreak: (event) => breaks.push(event),
          initialBackoffMs: 50,
        })) {
          const status = message.booking?.status ?? message.change!.to;
          seen.push({
            sequence: message.sequence,
            status: BookingStatus[status],
            kind: message.booking ? "state" : "change",
          });
        }
      })();
      await until("the booking's current state", () => seen.length >= 1);
      proxy.cut();
      await until("the break to be noticed", () => breaks.length >= 1);
      // The change happens while the stream may still be down; the resumed stream brings it.
      const direct = createNodeWeeloClient({ baseUrl: system.url });
      await direct.session.begin(customer.session.current!);
      await direct.bookings.cancelBooking({ bookingId, reason: "plans changed" });
      await watching;
      const changes = seen.filter((m) => m.kind === "change");
      assert.deepEqual(
        changes.map((c) => c.status),
        ["CANCELLED"],
        `each change once: ${JSON.stringify(seen, (_, v) => (typeof v === "bigint" ? String(v) : v))}`,
      );
      assert.equal(seen[0]!.status, "PENDING");
      assert.ok(breaks.length >= 1);
    } finally {
      await proxy.close();
    }
  });

  it("WatchOffers after a reconnect closes the offers that closed while it was away", async () => {
    const proxy = await cuttableProxy(system.url);
    const stop = new AbortController();
    try {
      const { transporter } = await fleet(system, proxy.url);
      const seen: string[] = [];
      const breaks: StreamBreak[] = [];
      let offerId = "";
      const watching = (async () => {
        for await (const { kind } of transporter.watchOffers({
          signal: stop.signal,
          initialBackoffMs: 1500,
          onBreak: (event) => breaks.push(event),
        })) {
          if (kind.case === "offer") offerId = kind.value.id;
          seen.push(
            kind.case === "caughtUp" ? "caughtUp" : `${kind.case} ${kind.value?.id === offerId ? "it" : "other"}`,
          );
        }
      })();
      await until("the first caughtUp", () => seen.includes("caughtUp"));
      const customer = createNodeWeeloClient({ baseUrl: system.url });
      await customer.login("customer", uniquePhone());
      const bookingId = await book(customer);
      await until("the offer", () => offerId !== "", 20_000);
      proxy.cut();
      await until("the break to be noticed", () => breaks.length >= 1);
      // While the app is away (it waits 3 s before reconnecting), the order is cancelled: the offer closes.
      await customer.bookings.cancelBooking({ bookingId, reason: "plans changed" });
      const direct = createNodeWeeloClient({ baseUrl: system.url });
      await direct.session.begin(transporter.session.current!);
      await until("the offer to close", async () => {
        const { offers } = await direct.dispatch.listOffers({});
        return !offers.some((offer) => offer.id === offerId);
      });
      await until("the second caughtUp", () => seen.filter((s) => s === "caughtUp").length >= 2, 15_000);
      assert.deepEqual(seen, ["caughtUp", "offer it", "closed it", "caughtUp"]);
      stop.abort();
      await watching; // the stream ends when the app stops it
    } finally {
      stop.abort();
      await proxy.close();
    }
  });

  it("uploads GPS on StreamLocation and re-sends what a cut connection left unacknowledged", async () => {
    const { driverPhone, vehicleId } = await fleet(system);
    const proxy = await cuttableProxy(system.url);
    const stop = new AbortController();
    try {
      const driver = await onlineDriver(proxy.url, driverPhone, vehicleId);
      assert.ok(driver.canStreamLocation);
      const breaks: StreamBreak[] = [];
      const acked: bigint[] = [];
      const upload = driver.uploadLocation<string>({
        signal: stop.signal,
        onBreak: (event) => breaks.push(event),
        onAck: (ack) => acked.push(...ack.points.map((p) => p.seq)),
      });
      const start = Date.now() - 60_000;
      const at = (i: number) => ({ lat: PUNE.lat + i * 0.0005, lng: PUNE.lng, accuracyM: 8, speedMps: 10, heading: 0 });
      for (let i = 0; i < 3; i++) upload.send({ ...at(i), recordedAt: new Date(start + i * 6000) }, `fix ${i}`);
      await upload.acknowledged(3n);
      proxy.cut();
      for (let i = 3; i < 6; i++) upload.send({ ...at(i), recordedAt: new Date(start + i * 6000) }, `fix ${i}`);
      await upload.acknowledged(6n);
      assert.equal(upload.failure, undefined);
      assert.deepEqual(acked, [1n, 2n, 3n, 4n, 5n, 6n], "every point acknowledged once, in order");
      assert.ok(breaks.length >= 1, "the cut was noticed");
      assert.equal(upload.unacknowledged, 0);
      await upload.stop();
    } finally {
      stop.abort();
      await proxy.close();
    }
  });

  it("a driver offline while their trip is cancelled hears it on reconnecting, once, before the trip they are on now", async () => {
    const { transporter, driverPhone, driverId, vehicleId } = await fleet(system);
    const customer = createNodeWeeloClient({ baseUrl: system.url });
    await customer.login("customer", uniquePhone());
    const proxy = await cuttableProxy(system.url);
    const stop = new AbortController();
    try {
      const driver = await onlineDriver(proxy.url, driverPhone, vehicleId);
      const heard: string[] = [];
      const breaks: StreamBreak[] = [];
      const upload = driver.uploadLocation({
        signal: stop.signal,
        onBreak: (event) => breaks.push(event),
        onCommand: ({ kind }) => {
          if (kind.case === "assignment" || kind.case === "cancelled" || kind.case === "reopened")
            heard.push(`${kind.case} ${kind.value.bookingId}`);
        },
      });
      upload.send({ ...PUNE, accuracyM: 8, recordedAt: new Date(Date.now() - 1000) });
      await upload.acknowledged(1n);
      const first = await assignedBooking(customer, transporter, { driverId, vehicleId });
      await until("the assignment", () => heard.includes(`assignment ${first}`), 15_000);

      // The phone loses the network; meanwhile the customer cancels and the transporter gives the driver another trip.
      proxy.hold(true);
      proxy.cut();
      await until("the break to be noticed", () => breaks.length >= 1);
      await customer.bookings.cancelBooking({ bookingId: first, reason: "plans changed" });
      const second = await assignedBooking(customer, transporter, { driverId, vehicleId });
      proxy.hold(false);
      await until("the trip on the new stream", () => heard.includes(`assignment ${second}`), 15_000);
      assert.deepEqual(heard, [`assignment ${first}`, `cancelled ${first}`, `assignment ${second}`]);

      // Another break: the server repeats both under their ids; the app heard them already.
      const breaksBefore = breaks.length;
      proxy.cut();
      await until("the break", () => breaks.length > breaksBefore);
      upload.send({ ...PUNE, accuracyM: 8, recordedAt: new Date() });
      await upload.acknowledged(2n);
      await new Promise((resolve) => setTimeout(resolve, 1000)); // the new stream's greeting is one row read
      assert.deepEqual(heard, [`assignment ${first}`, `cancelled ${first}`, `assignment ${second}`]);
      await upload.stop();
    } finally {
      stop.abort();
      await proxy.close();
    }
  });

  it("uploads GPS in UpdateLocation batches where the platform cannot stream (browser entry)", async () => {
    const { driverPhone, vehicleId } = await fleet(system);
    const driver = createWeeloClient({ baseUrl: system.url });
    assert.equal(driver.canStreamLocation, false);
    await driver.login("driver", driverPhone);
    await driver.drivers.setAvailability({ online: true, vehicleId });
    const rejected: string[] = [];
    const upload = driver.uploadLocation({
      flushMs: 50,
      onAck: (ack) => rejected.push(...ack.rejected.map((r) => String(r.seq))),
    });
    upload.send({ ...PUNE, accuracyM: 8 });
    // A heading outside 0–360 is refused by the filters: acknowledged, with its reason.
    upload.send({ ...PUNE, accuracyM: 8, heading: 400 });
    await upload.acknowledged(2n);
    assert.deepEqual(rejected, ["2"]);
    await upload.stop();
  });
});
