/**
 * Dispatch as several processes: two replicas side by side on the same database and bus
 * broadcast every order once and expire every booking once; a dispatch killed in the middle
 * of an order's waves and started again carries on where the timers in Postgres say. With
 * the real servers (DATABASE_URL and NATS_URL set) the dispatch is a child process started by
 * its own binary and killed with SIGKILL; embedded, PGlite and the in-process bus belong to
 * one process, so the replicas are platforms in this process and the restart is a shutdown.
 * The assign deadline is here too: it needs a dispatch with a short deadline of its own.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { BookingStatus } from "@weelo/contracts/grpc/weelo/booking/v1/booking";
import { BookingStatusChanged } from "@weelo/contracts/grpc/weelo/booking/v1/events";
import { WaveSent } from "@weelo/contracts/grpc/weelo/dispatch/v1/dispatch";

/** The offers of recorded wave_sent events, one entry per offer. */
const offersOf = (events: { payload?: { value: Uint8Array } }[]) =>
  events.flatMap((e) => {
    const wave = WaveSent.decode(e.payload!.value);
    return wave.offers.map((o) => ({ orderId: wave.orderId, transporterId: o.transporterId, wave: wave.wave }));
  });
import { EventEnvelope } from "@weelo/contracts/grpc/weelo/events/v1/envelope";
import type { Consumer } from "@weelo/bus";
import { restartablePort, sleep, until } from "@weelo/testing";
import { north, PUNE, startTestDispatch, type TestDispatch } from "./test-support.js";

const REAL_SERVERS = Boolean(process.env.DATABASE_URL && process.env.NATS_URL);
const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** Everything published on a stream's subject, read by a durable of the test's own. */
async function record(
  t: TestDispatch,
  stream: string,
  subject: string,
): Promise<{ events: EventEnvelope[]; stop(): Promise<void> }> {
  const events: EventEnvelope[] = [];
  const consumer: Consumer = await t.platform.bus.consume({
    stream,
    durable: `t_record_${Math.random().toString(36).slice(2, 10)}`,
    filterSubjects: [subject],
    handler: (msg) => void events.push(EventEnvelope.decode(msg.data)),
  });
  return { events, stop: () => consumer.stop() };
}

const counts = <T>(items: T[]) => items.reduce((m, k) => m.set(k, (m.get(k) ?? 0) + 1), new Map<T, number>());

describe("dispatch replicas", () => {
  let t: TestDispatch;
  before(async () => {
    // Everything but dispatch here; dispatch runs as replicas below.
    t = await startTestDispatch({
      withDispatch: false,
      env: { WAVE_RADII_KM: "3,6,10", WAVE_DURATION_MS: "300", ORDER_GATHER_MS: "100" },
    });
  });
  after(async () => {
    await t?.stop();
  });

  const status = async (bookingId: string, customer: { auth: object }) =>
    (await t.bookings.getBooking({ bookingId }, customer.auth)).booking!.status;

  it("two dispatch replicas side by side: every order broadcast once, every booking expired once, the work shared", async () => {
    const one = await t.replica();
    const two = await t.replica();
    const offers = await record(t, t.config.DISPATCH_STREAM, `${t.config.DISPATCH_SUBJECT_ROOT}.wave_sent`);
    const expiries = await record(t, t.config.BOOKING_STREAM, `${t.config.BOOKING_SUBJECT_ROOT}.expired`);
    try {
      const pickup = north(PUNE, -120);
      const transporters = await Promise.all(
        [0.5, 4, 8].map((km) => t.transporter({ base: north(pickup, km), radiusKm: 20 })),
      );
      const orders = await Promise.all(Array.from({ length: 4 }, (_, i) => t.book(1 + (i % 2), pickup)));
      const bookingIds = orders.flatMap((o) => o.bookingIds);
      // Nobody accepts: 3 waves of 300 ms, then every booking expires.
      await until(
        "every booking to expire once",
        () => new Set(expiries.events.map((e) => e.subjectId)).size === bookingIds.length,
        20_000,
        100,
      );
      await sleep(1000); // room for a double to show up
      const offerEvents = offersOf(offers.events);
      const perOrderTransporter = counts(offerEvents.map((o) => `${o.orderId}/${o.transporterId}`));
      assert.equal(
        perOrderTransporter.size,
        orders.length * transporters.length,
        "every transporter was offered every order",
      );
      assert.ok(
        [...perOrderTransporter.values()].every((n) => n === 1),
        "nobody was offered an order twice",
      );
      const expiredPerBooking = counts(expiries.events.map((e) => e.subjectId));
      assert.deepEqual([...expiredPerBooking.keys()].sort(), [...bookingIds].sort());
      assert.ok(
        [...expiredPerBooking.values()].every((n) => n === 1),
        "no booking expired twice",
      );
      for (const e of expiries.events)
        assert.equal(BookingStatusChanged.decode(e.payload!.value).reason, "NO_TRANSPORTER_FOUND");
      const waves = async (platform: TestDispatch["platform"]) =>
        ((await platform.metrics.registry.getSingleMetric("weelo_dispatch_waves_total")?.get())?.values ?? []).reduce(
          (n, v) => n + v.value,
          0,
        );
      const [a, b] = [await waves(one.platform), await waves(two.platform)];
      // Which replica claims a step is a race (both poll, both consume); that each step ran once is the point.
      assert.equal(a + b, orders.length * 4, `3 waves and one expiry per order, each run once (${a} + ${b} steps)`);
    } finally {
      await offers.stop();
      await expiries.stop();
      await one.stop();
      await two.stop();
    }
  });

  it("a dispatch killed in the middle of an order's waves, started again, carries on: the later waves reach the farther transporters", async () => {
    const waveMs = 1500;
    const pickup = north(PUNE, -160);
    const near = await t.transporter({ base: north(pickup, 1), radiusKm: 20 });
    const middle = await t.transporter({ base: north(pickup, 5), radiusKm: 20 });
    const far = await t.transporter({ base: north(pickup, 9), radiusKm: 20 });
    const offers = await record(t, t.config.DISPATCH_STREAM, `${t.config.DISPATCH_SUBJECT_ROOT}.wave_sent`);
    const env = { WAVE_DURATION_MS: String(waveMs), CLAIM_LEASE_MS: "1000" };
    let dispatch = await startDispatchProcess(t, env);
    try {
      const { orderId } = await t.book(1, pickup);
      const forOrder = () => offersOf(offers.events).filter((o) => o.orderId === orderId);
      await until("the first wave's offer", () => forOrder().some((o) => o.transporterId === near.id), 10_000);
      await dispatch.kill(); // wave 1 sent; waves 2 and 3 are only timers in Postgres now
      dispatch = await startDispatchProcess(t, env);
      await until(
        "the third wave's offer after the restart",
        () => forOrder().some((o) => o.transporterId === far.id),
        20_000,
        100,
      );
      await sleep(300);
      assert.deepEqual(
        forOrder()
          .map((o) => `${o.transporterId}@${o.wave}`)
          .sort(),
        [`${near.id}@1`, `${middle.id}@2`, `${far.id}@3`].sort(),
        "each wave ran once, in order, across the restart",
      );
    } finally {
      await offers.stop();
      await dispatch.kill();
    }
  });

  it("started again with a wave due, before its upstreams' address is known (the all-in-one before it listens): the due wave runs once it listens, and new orders are offered", async () => {
    const waveMs = 1500;
    const env = { WAVE_DURATION_MS: String(waveMs), CLAIM_LEASE_MS: "1000" };
    const pickup = north(PUNE, -280);
    const near = await t.transporter({ base: north(pickup, 1), radiusKm: 20 });
    const middle = await t.transporter({ base: north(pickup, 5), radiusKm: 20 });
    let dispatch = await t.replica(env);
    const offers = await record(t, t.config.DISPATCH_STREAM, `${t.config.DISPATCH_SUBJECT_ROOT}.wave_sent`);
    try {
      const first = await t.book(1, pickup);
      const offered = (orderId: string, transporterId: string) =>
        offersOf(offers.events).some((o) => o.orderId === orderId && o.transporterId === transporterId);
      await until("the first wave's offer", () => offered(first.orderId, near.id), 10_000);
      await dispatch.stop();
      await sleep(waveMs + 200); // the second wave falls due while no dispatch runs
      dispatch = await t.replica(env, { listenAfterMs: 1000 });
      await until("the due second wave's offer", () => offered(first.orderId, middle.id), 15_000, 100);
      const second = await t.book(1, pickup);
      await until("a new order's offer", () => offered(second.orderId, near.id), 10_000, 100);
      assert.ok(offered(first.orderId, middle.id) && offered(second.orderId, near.id));
    } finally {
      await offers.stop();
      await dispatch.stop();
    }
  });

  it("a transporter who does not assign in time loses the booking: it is reopened and offered again to others", async () => {
    const dispatch = await t.replica({ ASSIGN_DEADLINE_MS: "3000", WAVE_DURATION_MS: "3000" });
    try {
      const pickup = north(PUNE, -200);
      const slow = await t.transporter({ base: pickup, radiusKm: 10 });
      const { orderId, bookingIds, customer } = await t.book(1, pickup);
      const offer = await t.offerFor(slow, orderId, 10_000, dispatch.client);
      await dispatch.client.acceptOffer({ offerId: offer.id, vehicleCount: 1 }, slow.auth);
      assert.equal(
        (await t.bookings.getBooking({ bookingId: bookingIds[0]! }, customer.auth)).booking!.status,
        BookingStatus.BOOKING_STATUS_CONFIRMED,
      );
      const late = await t.transporter({ base: pickup, radiusKm: 10 });
      const reoffered = await t.offerFor(late, orderId, 15_000, dispatch.client);
      assert.equal(reoffered.vehicleCountOpen, 1);
      const booking = (await t.bookings.getBooking({ bookingId: bookingIds[0]! }, customer.auth)).booking!;
      assert.equal(booking.status, BookingStatus.BOOKING_STATUS_PENDING, "the booking is PENDING again");
      assert.equal(booking.transporterId, "");
      const slowOffers = (await dispatch.client.listOffers({ status: 0, pageSize: 10, pageToken: "" }, slow.auth))
        .offers;
      assert.ok(
        !slowOffers.some((o) => o.orderId === orderId),
        "the transporter who let it lapse is not offered it again",
      );
    } finally {
      await dispatch.stop();
    }
  });

  it("after the last wave the open bookings expire (CANCELLED, NO_TRANSPORTER_FOUND) and offers close", async () => {
    const dispatch = await t.replica({ WAVE_DURATION_MS: "1500" });
    try {
      const pickup = north(PUNE, -240);
      const transporter = await t.transporter({ base: pickup, radiusKm: 10 });
      const { orderId, bookingIds, customer } = await t.book(2, pickup);
      const offer = await t.offerFor(transporter, orderId, 10_000, dispatch.client);
      await dispatch.client.acceptOffer({ offerId: offer.id, vehicleCount: 1 }, transporter.auth);
      // 3 waves, then the expiry of the truck nobody took.
      await until(
        "one booking to expire",
        async () => {
          const statuses = await Promise.all(bookingIds.map((id) => status(id, customer)));
          return statuses.includes(BookingStatus.BOOKING_STATUS_CANCELLED);
        },
        15_000,
        100,
      );
      const views = await Promise.all(bookingIds.map((id) => t.bookings.getBooking({ bookingId: id }, customer.auth)));
      const expired = views.filter((v) => v.booking!.status === BookingStatus.BOOKING_STATUS_CANCELLED);
      assert.equal(expired.length, 1, "only the truck nobody took expires");
      assert.equal(expired[0]!.booking!.cancellationReason, "NO_TRANSPORTER_FOUND");
    } finally {
      await dispatch.stop();
    }
  });
});

/**
 * A dispatch of its own: with the real servers a child process started by its binary (kill =
 * SIGKILL, nothing graceful), embedded a replica platform in this process (kill = shutdown).
 */
async function startDispatchProcess(
  t: TestDispatch,
  overrides: Record<string, string>,
): Promise<{ kill(): Promise<void> }> {
  if (!REAL_SERVERS) {
    const replica = await t.replica(overrides);
    return { kill: () => replica.stop() };
  }
  // Below the ephemeral range: a port from freePort() can be taken as the source port of any
  // outgoing connection before the child binds it (CI saw EADDRINUSE). The other listeners pick
  // their own.
  const grpcPort = await restartablePort();
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", "services/dispatch/src/main.ts"], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      ...Object.fromEntries(Object.entries(t.env).filter((e): e is [string, string] => e[1] !== undefined)),
      ...overrides,
      NODE_ENV: "test",
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "warn",
      GRPC_HOST: "127.0.0.1",
      GRPC_PORT: String(grpcPort),
      MESH_HOST: "127.0.0.1",
      MESH_PORT: "0",
      METRICS_PORT: "0",
      // Over the mesh, with the development CA of the shared DATA_DIR.
      BOOKING_GRPC_URL: t.meshAddress,
      TRACKING_GRPC_URL: t.meshAddress,
      FLEET_GRPC_URL: t.meshAddress,
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  let exited = false;
  child.on("exit", () => (exited = true));
  await until(
    "the dispatch process to serve gRPC",
    async () => {
      if (exited) throw new Error("the dispatch process exited at start");
      return portOpen(grpcPort);
    },
    30_000,
    100,
  );
  return {
    async kill() {
      if (exited) return;
      child.kill("SIGKILL");
      await until("the dispatch process to die", () => exited, 5000);
    },
  };
}

async function portOpen(port: number): Promise<boolean> {
  const { connect } = await import("node:net");
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
