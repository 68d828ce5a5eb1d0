/**
 * One run of the city: set the fleets up, let customers book for the booking window while
 * transporters and drivers work, wait for the trips to finish, then read back what the
 * system holds (GetBooking, GetTripPath), check the invariants and build the report.
 */
import { setMaxListeners } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { BookingStatus } from "@weelo/contracts/es/weelo/booking/v1/booking_pb";
import { CustomerApp, TransporterApp, statusName, type DriverApp, type World } from "./actors.js";
import { CallLog, Gateway, reasonOf } from "./api.js";
import {
  checkExclusiveTrips,
  checkOverAcceptance,
  checkPointsStored,
  checkProgress,
  checkTerminal,
  checkWatchOrder,
  occupation,
  TERMINAL,
  type FinalBooking,
  type TripPoints,
  type Violation,
} from "./invariants.js";
import { Ledger } from "./ledger.js";
import { orderTimes, planCity, planOrder, runTag } from "./plan.js";
import type { SimConfig } from "./profiles.js";
import { formatMs, rate, summarize, type Summary } from "./stats.js";

export interface FaultRecord {
  what: string;
  /** Seconds into the run when it was injected. */
  atS: number;
  /** How long the thing was down, ms. */
  downMs: number;
  /** From the injection until the system answered health checks again, ms. */
  readyAfterMs: number | null;
  /** From the injection until the first location point was acknowledged again, ms. */
  pointsFlowAfterMs: number | null;
  note?: string;
  /** Mesh faults (sim/mesh-faults.ts): from the kill until ready, no failing calls and points flowing, ms. */
  fullServiceAfterMs?: number | null;
  /** Call attempts that failed transiently in the fault's window (retried or given up). */
  failedAttempts?: number;
  /** Calls in the window that needed more than one attempt. */
  retriedCalls?: number;
  /** Calls whose retries ran out in the window. */
  gaveUp?: number;
  /** Longest stretch without a location acknowledgement in the window, ms. */
  pointsStallMs?: number;
  /** p99 of the calls that started after full service, up to a minute (p99WindowS) within the window, ms. */
  p99AfterMs?: number | null;
  p99WindowS?: number;
}

export interface RunOptions {
  url: string;
  profile: string;
  config: SimConfig;
  /** How long after its creation a booking may still be in broadcast (waves + gather), ms. */
  broadcastMs: number;
  /** Called with the world once the city is set up (fault injection hooks in here). */
  onRunning?: (world: World, startedAt: number) => Promise<FaultRecord[]>;
  /** Progress lines go here. */
  progress: (line: string) => void;
}

export interface Report {
  profile: string;
  url: string;
  seed: number;
  startedAt: string;
  durationS: number;
  config: SimConfig;
  city: { transporters: number; trucks: number; customers: number; hubs: string[] };
  counts: Record<string, number>;
  rates: Record<string, number | null>;
  timingsMs: Record<"firstOffer" | "acceptance" | "assignment" | "completion", Summary>;
  points: { sent: number; acked: number; stored: number; rejected: number; resent: number; perSecond: number };
  streams: {
    driverReconnects: number;
    watchReconnects: number;
    offerReconnects: number;
    endedBy: Record<string, { count: number; firstS: number; lastS: number }>;
  };
  calls: { retries: number; tokenRefreshes: number; errors: Record<string, number>; refusals: Record<string, number> };
  faults: FaultRecord[];
  invariants: { checked: Record<string, number>; violations: Violation[]; passed: boolean };
  notes: string[];
}

export { renderReport } from "./report.js";

export async function runSimulation(options: RunOptions): Promise<Report> {
  const { config } = options;
  const log = new CallLog();
  const gateway = new Gateway({ url: options.url, retryForMs: config.retryForMs, timeoutMs: 15_000, log });
  const ledger = new Ledger();
  const stop = new AbortController();
  // Every stream of the run listens to this one signal.
  setMaxListeners(0, stop.signal);
  const tag = runTag();
  const world: World = { gateway, ledger, config, tag, closing: stop.signal, customers: [], notes: [], violations: [] };
  const startedAt = Date.now();
  const elapsedS = () => Math.round((Date.now() - startedAt) / 1000);
  let ticker: NodeJS.Timeout | undefined;
  let progress: NodeJS.Timeout | undefined;
  const transporters: TransporterApp[] = [];
  try {
    // ------------------------------------------------------------------ the city
    const city = planCity(config, tag);
    options.progress(
      `setting up ${city.length} transporters with ${city.reduce((n, t) => n + t.trucks.length, 0)} trucks and ${config.customers} customers (seed ${config.seed}, run tag ${tag})`,
    );
    for (const plan of city) transporters.push(new TransporterApp(plan, world));
    await inBatches(transporters, 4, (t) => t.setUp());
    world.customers = Array.from({ length: config.customers }, (_, i) => new CustomerApp(i, world));
    await inBatches(world.customers, 8, (c) => c.login());
    const drivers = transporters.flatMap((t) => t.units.map((u) => u.driver));
    ticker = setInterval(() => {
      for (const driver of drivers) driver.tick();
    }, config.tickMs);
    for (const transporter of transporters) void transporter.watchOffers();
    // Drivers' first fixes must reach tracking before the first broadcast looks for them.
    await sleep(Math.max(2 * config.tickMs, 1500));

    progress = setInterval(() => options.progress(progressLine(ledger, log, elapsedS())), 2000);
    const runStart = Date.now();
    const faults = options.onRunning ? options.onRunning(world, runStart) : Promise.resolve([]);

    // ------------------------------------------------------------------ the booking window
    const times = orderTimes(config);
    options.progress(`booking window: ${times.length} orders over ${formatMs(config.bookingWindowMs)}`);
    const placing: Promise<void>[] = [];
    for (const [index, at] of times.entries()) {
      const wait = runStart + at - Date.now();
      if (wait > 0) await sleep(wait);
      // Order k is placed by the customer its plan names.
      const customer = world.customers[planOrder(config, index).customer]!;
      placing.push(customer.placeOrder(index));
    }
    await Promise.all(placing);

    // ------------------------------------------------------------------ drain
    options.progress(`booking window over: waiting up to ${formatMs(config.drainMs)} for the trips to finish`);
    const drainUntil = Date.now() + config.drainMs;
    while (Date.now() < drainUntil && !allSettled(ledger, drivers, options.broadcastMs)) await sleep(500);
    const faultRecords = await faults;
    clearInterval(progress);
    progress = undefined;
    options.progress(progressLine(ledger, log, elapsedS()));

    // ------------------------------------------------------------------ read back and check
    options.progress("reading every booking and trip path back");
    const finals = await readBack(world);
    await waitForWatchers(ledger, finals);
    const explanations = explain(world, finals, drivers, options.broadcastMs);
    const trips: TripPoints[] = [];
    let stored = 0;
    let ackedAfterEnd = 0;
    await inBatches(
      [...ledger.bookings.values()].filter(
        (b) => b.ackedTripPoints.length > 0 || finals.get(b.id)?.status === "COMPLETED",
      ),
      8,
      async (booking) => {
        const customer = world.customers[booking.customer]!;
        // Points acknowledged once the trip had ended (cancelled under a driver still driving) are not the trip's.
        const end = occupation(finals.get(booking.id)!)?.to ?? Number.POSITIVE_INFINITY;
        const acked = booking.ackedTripPoints.filter((p) => p.at < end).map((p) => p.seq);
        ackedAfterEnd += booking.ackedTripPoints.length - acked.length;
        try {
          const path = await gateway.call("GetTripPath", (o) =>
            customer.session.client.tracking.getTripPath({ bookingId: booking.id }, o),
          );
          stored += path.points.length;
          trips.push({ bookingId: booking.id, acked, stored: path.points.map((p) => Number(p.seq)) });
        } catch (error) {
          world.notes.push(`GetTripPath of booking ${booking.id} failed: ${reasonOf(error)}`);
          trips.push({ bookingId: booking.id, acked, stored: undefined });
        }
      },
    );
    if (ackedAfterEnd > 0)
      world.notes.push(
        `${ackedAfterEnd} trip points were acknowledged after their trip had ended (cancelled while the driver drove on) and are not expected in its path`,
      );

    const finalList = [...finals.values()];
    const orders = new Map(
      [...ledger.orders.values()].map((o) => [o.id, { vehicleCount: o.vehicleCount, bookingIds: o.bookingIds }]),
    );
    const violations: Violation[] = [
      ...checkTerminal(finalList, explanations),
      ...checkOverAcceptance(orders, ledger.acceptances, finalList),
      ...checkExclusiveTrips(finalList),
      ...checkPointsStored(trips),
      ...finalList.flatMap((b) => checkWatchOrder(b, ledger.bookings.get(b.id)?.watch ?? [])),
      ...checkProgress(finalList, drivers.length),
      ...world.violations,
    ];

    // ------------------------------------------------------------------ the figures
    const bookings = [...ledger.bookings.values()];
    const expired = finalList.filter(
      (b) => b.status === "CANCELLED" && b.cancellationReason === "NO_TRANSPORTER_FOUND",
    ).length;
    const byCustomer = finalList.filter(
      (b) => b.status === "CANCELLED" && ledger.bookings.get(b.id)?.cancelledBy === "customer",
    ).length;
    const completed = finalList.filter((b) => b.status === "COMPLETED").length;
    const since = (pick: (b: (typeof bookings)[number]) => number | undefined) =>
      bookings.flatMap((b) => (pick(b) !== undefined ? [pick(b)! - b.createdAt] : []));
    const durationS = (Date.now() - startedAt) / 1000;
    return {
      profile: options.profile,
      url: options.url,
      seed: config.seed,
      startedAt: new Date(startedAt).toISOString(),
      durationS: Math.round(durationS),
      config,
      city: {
        transporters: transporters.length,
        trucks: drivers.length,
        customers: config.customers,
        hubs: [...new Set(city.map((t) => t.hub.name))],
      },
      counts: {
        orders: ledger.orders.size,
        ordersFailed: ledger.ordersFailed,
        multiTruckOrders: [...ledger.orders.values()].filter((o) => o.vehicleCount > 1).length,
        bookings: bookings.length,
        offered: [...ledger.orders.values()]
          .filter((o) => o.firstOfferAt !== undefined)
          .reduce((n, o) => n + o.bookingIds.length, 0),
        accepted: ledger.count("acceptedAt"),
        assigned: ledger.count("assignedAt"),
        completed,
        cancelledByCustomer: byCustomer,
        expired,
        cancelledOther: finalList.filter((b) => b.status === "CANCELLED").length - byCustomer - expired,
        unfinished: finalList.filter((b) => !TERMINAL.has(b.status)).length,
        declines: ledger.declines,
      },
      rates: {
        completion: rate(completed, bookings.length),
        expiry: rate(expired, bookings.length),
        customerCancellation: rate(byCustomer, bookings.length),
      },
      timingsMs: {
        firstOffer: summarize(
          [...ledger.orders.values()].flatMap((o) =>
            o.firstOfferAt !== undefined ? [o.firstOfferAt - o.createdAt] : [],
          ),
        ),
        acceptance: summarize(since((b) => b.acceptedAt)),
        assignment: summarize(since((b) => b.assignedAt)),
        completion: summarize(since((b) => b.completedAt)),
      },
      points: {
        sent: ledger.pointsSent,
        acked: ledger.pointsAcked,
        stored,
        rejected: ledger.pointsRejected,
        resent: ledger.pointsResent,
        perSecond: Math.round((ledger.pointsSent / durationS) * 10) / 10,
      },
      streams: {
        driverReconnects: ledger.streamReconnects,
        watchReconnects: ledger.watchReconnects,
        offerReconnects: ledger.offerStreamReconnects,
        endedBy: Object.fromEntries(ledger.streamEnds),
      },
      calls: {
        retries: log.retries,
        tokenRefreshes: log.refreshes,
        errors: Object.fromEntries(log.errors),
        refusals: Object.fromEntries(log.refusals),
      },
      faults: faultRecords,
      invariants: {
        checked: {
          bookingsTerminalOrExplained: finalList.length,
          ordersAcceptance: orders.size,
          driverAndVehicleOccupations: finalList.filter((b) => b.driverId).length,
          tripsPoints: trips.length,
          ackedTripPoints: trips.reduce((n, t) => n + t.acked.length, 0),
          watchStreams: finalList.length,
        },
        violations,
        passed: violations.length === 0,
      },
      notes: [...world.notes, ...[...explanations].map(([id, why]) => `booking ${id} left unfinished: ${why}`)],
    };
  } finally {
    if (ticker) clearInterval(ticker);
    if (progress) clearInterval(progress);
    stop.abort();
    await Promise.all(transporters.flatMap((transporter) => transporter.units.map((unit) => unit.driver.close())));
  }
}

/** Runs fn over items, `width` at a time. */
async function inBatches<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(fn));
}

function progressLine(ledger: Ledger, log: CallLog, seconds: number): string {
  const cancelled = ledger.count("cancelledAt");
  return [
    `t=${String(seconds).padStart(4)}s`,
    `bookings ${ledger.bookings.size} created / ${ledger.count("acceptedAt")} accepted / ${ledger.count("assignedAt")} assigned / ${ledger.count("completedAt")} completed${cancelled ? ` / ${cancelled} cancelled` : ""}`,
    `drivers ${ledger.driversOnline}`,
    `points ${ledger.pointsMeter.perSecond().toFixed(1)}/s (sent ${ledger.pointsSent}, acked ${ledger.pointsAcked})`,
    `errors ${log.errorCount}`,
  ].join(" · ");
}

/** The last status the customer's watch stream showed for a booking. */
function watchedStatus(ledger: Ledger, bookingId: string): string | undefined {
  const last = ledger.bookings.get(bookingId)?.watch.at(-1);
  return last ? (last.kind === "state" ? last.status : last.to) : undefined;
}

/** True when nothing is left in flight: every booking final as its customer sees it, or still legitimately in broadcast. */
function allSettled(ledger: Ledger, drivers: readonly { onTrip: boolean }[], broadcastMs: number): boolean {
  if (drivers.some((d) => d.onTrip)) return false;
  const now = Date.now();
  for (const booking of ledger.bookings.values()) {
    const status = watchedStatus(ledger, booking.id);
    if (status === "COMPLETED" || status === "CANCELLED") continue;
    const order = ledger.orders.get(booking.orderId)!;
    const broadcastEnds = Math.max(order.offerExpiresAt ?? 0, order.createdAt + broadcastMs);
    if (status === "PENDING" && now > broadcastEnds + 5000) continue; // should have expired: the check will say
    return false;
  }
  return true;
}

type Final = FinalBooking & { cancellationReason: string };

/** Every booking of the run as the system holds it now (read as its customer). */
async function readBack(world: World): Promise<Map<string, Final>> {
  const { gateway, ledger } = world;
  const finals = new Map<string, Final>();
  await inBatches([...ledger.bookings.values()], 8, async (record) => {
    const customer = world.customers[record.customer]!;
    const read = await gateway.call("GetBooking", (o) =>
      customer.session.client.bookings.getBooking({ bookingId: record.id }, o),
    );
    const booking = read.booking!;
    finals.set(record.id, {
      id: booking.id,
      orderId: booking.orderId,
      status: statusName(booking.status),
      driverId: booking.driverId,
      vehicleId: booking.vehicleId,
      cancellationReason: booking.cancellationReason,
      history: read.history.map((h) => ({
        sequence: Number(h.sequence),
        from: h.from === BookingStatus.UNSPECIFIED ? undefined : statusName(h.from),
        to: statusName(h.to),
        at: h.occurredAt ? timestampDate(h.occurredAt).getTime() : 0,
        reopened: h.reopened,
      })),
    });
  });
  return finals;
}

/** Lets the watch streams still open catch up with the history just read (a few seconds at most). */
async function waitForWatchers(ledger: Ledger, finals: Map<string, Final>): Promise<void> {
  const behind = () =>
    [...finals.values()].filter((f) => {
      const record = ledger.bookings.get(f.id);
      const last = record?.watch.at(-1)?.sequence ?? 0;
      return record?.watching && last < Math.max(...f.history.map((h) => h.sequence));
    });
  for (let i = 0; i < 20 && behind().length > 0; i++) await sleep(250);
}

/** Why bookings not final are not (yet) final, when the run knows a legitimate reason. */
function explain(
  world: World,
  finals: Map<string, Final>,
  drivers: readonly DriverApp[],
  broadcastMs: number,
): Map<string, string> {
  const explanations = new Map<string, string>();
  const now = Date.now();
  for (const booking of finals.values()) {
    if (TERMINAL.has(booking.status)) continue;
    const record = world.ledger.bookings.get(booking.id)!;
    const order = world.ledger.orders.get(record.orderId)!;
    const broadcastEnds = Math.max(order.offerExpiresAt ?? 0, order.createdAt + broadcastMs);
    if (booking.status === "PENDING" && broadcastEnds > now) {
      explanations.set(
        booking.id,
        `still in broadcast until ${new Date(broadcastEnds).toISOString()} (the run ended first)`,
      );
    } else {
      // A trip still being driven when the drain ran out: explained only while its driver's app is on it and moving.
      // (Driving, or at a step it began less than 30 s ago: a stuck step is not explained.)
      const driver = drivers.find((d) => d.phase?.bookingId === booking.id && d.onTrip);
      const phase = driver?.describePhase(now);
      const moving =
        driver?.phase !== undefined &&
        ((/driving/.test(phase!) && !/waiting for the ack/.test(phase!)) || now - driver.phase.since < 30_000);
      const beingAssigned =
        booking.status === "CONFIRMED" && record.acceptedAt !== undefined && now - record.acceptedAt < 30_000;
      if (moving)
        explanations.set(booking.id, `trip in progress (${booking.status}: ${phase}) when the drain time ran out`);
      else if (beingAssigned)
        explanations.set(
          booking.id,
          `accepted ${Math.round((now - record.acceptedAt!) / 1000)} s before the end, the driver being assigned`,
        );
      else
        world.notes.push(
          `booking ${booking.id} is ${booking.status}: ${driver ? `its driver's app is ${phase}` : "no driver's app is on it"}`,
        );
    }
  }
  return explanations;
}
