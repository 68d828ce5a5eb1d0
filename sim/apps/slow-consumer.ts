/**
 * Slow consumers (mesh fault mode): a driver app that keeps sending points on its StreamLocation
 * stream but never reads the answers, and a customer app that opens WatchLocation and
 * WatchBooking on a booking under way and never reads them. Plain HTTP/2 to the gateway (the
 * Connect protocol by hand) so that nothing reads on their behalf: the response streams stay
 * paused and HTTP/2 flow control stops the server's writes. Meanwhile the harness samples the
 * tracking and gateway processes' /metrics: the positions queued for WatchLocation streams must
 * stay within the per-stream bound (WATCH_MAX_PENDING) however long the watcher stalls, and the
 * report gives each process's heap before and after (the stream_memory invariant).
 */
import { type ClientHttp2Session, type ClientHttp2Stream, connect } from "node:http2";
import { randomUUID } from "node:crypto";
import { create, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import {
  StreamLocationRequestSchema,
  WatchLocationRequestSchema,
} from "@weelo/contracts/es/weelo/tracking/v1/tracking_service_pb";
import { WatchBookingRequestSchema } from "@weelo/contracts/es/weelo/booking/v1/booking_service_pb";
import type { Session } from "../api.js";
import { phoneFor, registrationFor } from "../plan.js";
import { pause, type World } from "./world.js";

/** WATCH_MAX_PENDING's default (services/tracking): positions one WatchLocation stream may hold queued. */
const WATCH_MAX_PENDING = 16;
/** Far from the simulated city (Nashik, ~170 km from Pune), with a small radius: the slow transporter is offered nothing. */
const FAR_BASE = { lat: 19.9975, lng: 73.7898 };

export interface SlowConsumerPlan {
  url: string;
  /** /metrics of the processes that hold the streams' buffers. */
  trackingAdmin: string;
  gatewayAdmin: string;
  /** How long the consumers stall, ms. */
  forMs: number;
}

interface Sample {
  at: number;
  watchQueued: number;
  openStreams: number;
}

/** A Connect streaming request's envelope: flags, length (big-endian), the message. */
function envelope<D extends DescMessage>(schema: D, message: MessageShape<D>): Buffer {
  const bytes = toBinary(schema, message);
  const frame = Buffer.alloc(5 + bytes.length);
  frame.writeUInt32BE(bytes.length, 1);
  frame.set(bytes, 5);
  return frame;
}

function open(session: ClientHttp2Session, path: string, token: string): ClientHttp2Stream {
  const stream = session.request({
    ":method": "POST",
    ":path": path,
    "content-type": "application/connect+proto",
    "connect-protocol-version": "1",
    authorization: `Bearer ${token}`,
  });
  // Never read: the response stays in HTTP/2's window and the server's writes stop there.
  stream.pause();
  stream.on("error", () => undefined);
  return stream;
}

async function metric(adminUrl: string, names: string[]): Promise<Record<string, number>> {
  const text = await fetch(`${adminUrl}/metrics`, { signal: AbortSignal.timeout(3000) })
    .then((r) => r.text())
    .catch(() => "");
  const found: Record<string, number> = {};
  if (text === "") return found; // the process is down (a fault): nothing known
  for (const name of names) {
    let sum = 0;
    for (const [, value] of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, "gm")))
      sum += Number(value);
    found[name] = sum;
  }
  return found;
}

/** Sets up a transporter far away with one vehicle and one driver, the driver logged in and online. */
async function slowDriver(world: World): Promise<Session> {
  const { gateway, tag } = world;
  const transporter = await gateway.login("transporter", phoneFor("transporter", tag, 99_990));
  await gateway.call("UpdateTransporterProfile", (o) =>
    transporter.client.transporters.updateTransporterProfile({ baseLocation: FAR_BASE, serviceRadiusKm: 5 }, o),
  );
  const vehicle = await gateway.call("AddVehicle", (o) =>
    transporter.client.vehicles.addVehicle(
      {
        idempotencyKey: randomUUID(),
        registrationNumber: registrationFor(tag, 9990),
        vehicleType: "pickup_8ft",
        capacityKg: 1500,
      },
      o,
    ),
  );
  const phone = phoneFor("driver", tag, 99_990);
  await gateway.call("AddDriver", (o) =>
    transporter.client.drivers.addDriver(
      { idempotencyKey: randomUUID(), name: "Slow Reader", phone, licenceNumber: "MH1220260099990" },
      o,
    ),
  );
  const driver = await gateway.login("driver", phone);
  await gateway.call("SetAvailability", (o) =>
    driver.client.drivers.setAvailability({ online: true, vehicleId: vehicle.vehicle!.id }, o),
  );
  return driver;
}

/**
 * Runs the slow consumers for plan.forMs and checks the bound; notes and any violation go to
 * the world. A stream a fault closes (a killed gateway or tracking) is opened again, still unread.
 */
export async function runSlowConsumers(world: World, plan: SlowConsumerPlan): Promise<void> {
  const { ledger, closing } = world;
  let driver: Session;
  try {
    driver = await slowDriver(world);
  } catch (error) {
    world.notes.push(`slow consumers: the slow driver could not be set up: ${(error as Error).message}`);
    return;
  }
  const heapNames = ["nodejs_heap_size_used_bytes", "process_resident_memory_bytes"];
  const before = {
    tracking: await metric(plan.trackingAdmin, heapNames),
    gateway: await metric(plan.gatewayAdmin, heapNames),
    dropped: (await metric(plan.trackingAdmin, ["weelo_tracking_watch_dropped_positions_total"]))
      .weelo_tracking_watch_dropped_positions_total,
  };
  const samples: Sample[] = [];
  const until = Date.now() + plan.forMs;
  const session = connect(plan.url);
  session.on("error", () => undefined);
  let sessionNow = session;
  const counts = { pointsWritten: 0, writesHeldBack: 0, reopened: 0, watchersOpened: 0 };
  const endings: string[] = [];
  const live = (s: ClientHttp2Session) => (s.closed || s.destroyed ? undefined : s);
  const h2 = () => {
    if (!live(sessionNow)) {
      sessionNow = connect(plan.url);
      sessionNow.on("error", () => undefined);
    }
    return sessionNow;
  };
  const noteEnd = (what: string, stream: ClientHttp2Stream) =>
    stream.once("close", () => {
      if (Date.now() < until) endings.push(`${what} closed (HTTP/2 code ${stream.rstCode})`);
    });

  // The driver: a point every 50 ms (20 a second, well over an app's), read by nobody.
  const driving = (async () => {
    let seq = 0;
    while (Date.now() < until && !closing.aborted) {
      const token = (await driver.client.session.accessToken()) ?? "";
      const stream = open(h2(), "/weelo.tracking.v1.TrackingService/StreamLocation", token);
      noteEnd("the slow driver's StreamLocation", stream);
      while (Date.now() < until && !closing.aborted && !stream.closed) {
        seq += 1;
        const point = {
          seq: BigInt(seq),
          recordedAt: timestampNow(),
          lat: FAR_BASE.lat + (seq % 200) * 0.000_01,
          lng: FAR_BASE.lng,
          accuracyM: 5,
          speedMps: 1,
          heading: 0,
        };
        const written = stream.write(
          envelope(StreamLocationRequestSchema, create(StreamLocationRequestSchema, { points: [point] })),
        );
        counts.pointsWritten += 1;
        if (!written) counts.writesHeldBack += 1;
        await pause(50, closing);
      }
      stream.close();
      if (Date.now() < until) {
        counts.reopened += 1;
        await pause(1000, closing);
      }
    }
  })();

  // The watcher: the customer of the first booking with a driver on the way, on both watches, read by nobody.
  const watching = (async () => {
    let booking: { id: string; customer: number } | undefined;
    while (!booking && Date.now() < until && !closing.aborted) {
      const found = [...ledger.bookings.values()].find(
        (b) => b.assignedAt !== undefined && b.completedAt === undefined,
      );
      if (found) booking = { id: found.id, customer: found.customer };
      else await pause(500, closing);
    }
    if (!booking) {
      world.notes.push("slow consumers: no booking got a driver in time for the slow watcher");
      return;
    }
    const customer = world.customers[booking.customer]!;
    while (Date.now() < until && !closing.aborted) {
      const token = (await customer.session.client.session.accessToken()) ?? "";
      const location = open(h2(), "/weelo.tracking.v1.TrackingService/WatchLocation", token);
      location.end(envelope(WatchLocationRequestSchema, create(WatchLocationRequestSchema, { bookingId: booking.id })));
      const changes = open(h2(), "/weelo.booking.v1.BookingService/WatchBooking", token);
      changes.end(envelope(WatchBookingRequestSchema, create(WatchBookingRequestSchema, { bookingId: booking.id })));
      counts.watchersOpened += 2;
      noteEnd("the slow WatchLocation", location);
      while (Date.now() < until && !closing.aborted && !location.closed) await pause(500, closing);
      location.close();
      changes.close();
      if (Date.now() < until) await pause(1000, closing);
    }
  })();

  const sampler = (async () => {
    while (Date.now() < until && !closing.aborted) {
      const [tracking, gateway] = await Promise.all([
        metric(plan.trackingAdmin, ["weelo_tracking_watch_queued_positions"]),
        metric(plan.gatewayAdmin, ["weelo_gateway_open_streams"]),
      ]);
      if (tracking.weelo_tracking_watch_queued_positions !== undefined)
        samples.push({
          at: Date.now(),
          watchQueued: tracking.weelo_tracking_watch_queued_positions,
          openStreams: gateway.weelo_gateway_open_streams ?? 0,
        });
      await pause(2000, closing);
    }
  })();

  await Promise.all([driving, watching, sampler]);
  const after = {
    tracking: await metric(plan.trackingAdmin, heapNames),
    gateway: await metric(plan.gatewayAdmin, heapNames),
    dropped: (await metric(plan.trackingAdmin, ["weelo_tracking_watch_dropped_positions_total"]))
      .weelo_tracking_watch_dropped_positions_total,
  };
  sessionNow.destroy();
  session.destroy();

  const mb = (bytes: number | undefined) => (bytes === undefined ? "?" : `${(bytes / 2 ** 20).toFixed(0)} MB`);
  const worst = samples.reduce<Sample | undefined>(
    (w, s) => (w === undefined || s.watchQueued > w.watchQueued ? s : w),
    undefined,
  );
  world.notes.push(
    `slow consumers for ${Math.round(plan.forMs / 1000)} s: the driver wrote ${counts.pointsWritten} points unread (${counts.writesHeldBack} writes held back by flow control, ${counts.reopened} reopened after a fault), ${counts.watchersOpened} watch streams unread; WatchLocation positions queued at most ${worst?.watchQueued ?? 0} (bound ${WATCH_MAX_PENDING} a stream, ${worst?.openStreams ?? 0} streams open then), ${after.dropped !== undefined && before.dropped !== undefined ? after.dropped - before.dropped : "?"} dropped for slow watchers; heap tracking ${mb(before.tracking.nodejs_heap_size_used_bytes)} → ${mb(after.tracking.nodejs_heap_size_used_bytes)}, gateway ${mb(before.gateway.nodejs_heap_size_used_bytes)} → ${mb(after.gateway.nodejs_heap_size_used_bytes)}${endings.length > 0 ? `; ${endings.join("; ")}` : ""}`,
  );
  for (const sample of samples) {
    const bound = WATCH_MAX_PENDING * Math.max(1, sample.openStreams);
    if (sample.watchQueued > bound) {
      world.violations.push({
        invariant: "stream_memory",
        message: `tracking held ${sample.watchQueued} positions for WatchLocation streams at ${Math.round((sample.at - ledger.startedAt) / 1000)} s, over ${WATCH_MAX_PENDING} for each of the ${sample.openStreams} streams open`,
      });
      break;
    }
  }
}
