/**
 * The fleet stream's hub: one per tracking replica, shared by every WatchFleetPositions call
 * on it. It keeps a table of every driver (latest position, availability, trip) fed by:
 *
 * - `<root>.fleet.position` (core NATS): every replica's ingest publishes each driver message's
 *   latest position there, so a hub sees the points of drivers streaming to any replica. The
 *   publish happens only while some hub is running (a hub announces itself on
 *   `<root>.fleet.interest` every few seconds): with no console open, ingest pays one boolean test.
 * - fleet's availability events and the trip directory (every replica sees both already).
 * - when it starts, one scan of the position store (Redis or in process), so drivers heard
 *   before the hub started are known; later points overtake it by sequence number.
 *
 * Each watcher holds the drivers it has shown (with when each was last sent), the drivers
 * changed since its last batch (a set: a driver moving ten times is one entry) and those gone.
 * A change costs one box test per watcher. A watcher that does not take its batches (a slow
 * console: gRPC's flow control holds the generator) is resynchronised: its sets are dropped
 * once more than `maxPending` changes wait or it has been stalled `stallMs`, and it gets a new
 * snapshot when it reads again, so its memory never grows with time.
 */
import type { Bus, Subscription } from "@weelo/bus";
import { DriverPosition } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking";
import type { FleetPosition } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_internal_service";
import type { Logger } from "@weelo/log";
import { Counter, Gauge, type Registry } from "prom-client";
import { chunks, dueForSend, inBox, isShown, type Box } from "./fleet.rules.js";
import type { DriverAvailability, PositionStore, StoredDriver } from "./position-store.js";
import type { AcceptedPoint } from "./tracking.rules.js";
import type { Trip, TripDirectory } from "./trip-directory.js";

export interface FleetHubDeps {
  bus: Bus;
  store: PositionStore;
  trips: Pick<TripDirectory, "activeOf">;
  logger: Logger;
  registry: Registry;
  subjectRoot: string;
  staleAfterMs: number;
  /** A batch per watcher at most this often (ms). */
  batchMs: number;
  /** Changes one watcher may hold before it is resynchronised. */
  maxPending: number;
  /** A watcher that has not taken a batch for this long is resynchronised (ms). */
  stallMs: number;
  now?: () => number;
}

export interface FleetBatch {
  positions: FleetPosition[];
  goneDriverIds: string[];
  snapshot: boolean;
}

interface Entry {
  driverId: string;
  lat: number;
  lng: number;
  heading: number;
  recordedAt: number;
  seq: number;
  hasPosition: boolean;
  lastSeenAt: number;
  availability: DriverAvailability | undefined;
  /** Last visibility decision, so the sweep only reports changes. */
  shown: boolean;
}

class Watcher {
  /** Drivers on the console, with when each was last sent (ms). */
  readonly sent = new Map<string, number>();
  readonly changed = new Set<string>();
  readonly gone = new Set<string>();
  needsSnapshot = true;
  lastTakenAt: number;
  wake: (() => void) | undefined;

  constructor(
    readonly box: Box,
    readonly minIntervalMs: number,
    now: number,
  ) {
    this.lastTakenAt = now;
  }

  get pending(): number {
    return this.changed.size + this.gone.size;
  }

  resync(): void {
    this.sent.clear();
    this.changed.clear();
    this.gone.clear();
    this.needsSnapshot = true;
  }
}

/** Positions of one snapshot message; 2,000 FleetPositions are about 350 kB, well under gRPC's 4 MB. */
const SNAPSHOT_CHUNK = 2000;
/** How often a running hub announces itself; publishers keep publishing three times as long. */
export const FLEET_INTEREST_EVERY_MS = 5000;
/** A hub without watchers stops after this long (its table would go stale once publishers stop). */
const IDLE_STOP_MS = 10_000;
const SWEEP_MS = 1000;

export type FleetHub = ReturnType<typeof createFleetHub>;

export function createFleetHub(deps: FleetHubDeps) {
  const now = deps.now ?? Date.now;
  const positionSubject = `${deps.subjectRoot}.fleet.position`;
  const interestSubject = `${deps.subjectRoot}.fleet.interest`;
  const table = new Map<string, Entry>();
  const watchers = new Set<Watcher>();
  /** Drivers heard live but unknown to the table's availability: read once from the store. */
  const loading = new Set<string>();
  let interestedUntil = 0;
  let running: Promise<void> | undefined;
  let positions: Subscription | undefined;
  let timers: NodeJS.Timeout[] = [];
  let idleTimer: NodeJS.Timeout | undefined;
  let closed = false;
  let resyncTotal = 0;

  const resyncs = new Counter({
    name: "weelo_tracking_fleet_resyncs_total",
    help: "Fleet streams resynchronised with a new snapshot because they fell behind (slow console).",
    registers: [deps.registry],
  });
  new Gauge({
    name: "weelo_tracking_fleet_watchers",
    help: "Open WatchFleetPositions streams on this process.",
    registers: [deps.registry],
    collect() {
      this.set(watchers.size);
    },
  });
  new Gauge({
    name: "weelo_tracking_fleet_pending_changes",
    help: "Driver changes waiting for WatchFleetPositions streams of this process (bounded per stream).",
    registers: [deps.registry],
    collect() {
      let total = 0;
      for (const w of watchers) total += w.pending;
      this.set(total);
    },
  });

  // Every replica listens for hubs, so its ingest knows whether to publish fleet positions.
  const interest = deps.bus.subscribe(interestSubject, () => {
    interestedUntil = now() + 3 * FLEET_INTEREST_EVERY_MS;
  });

  const darkOf = (driverId: string): boolean => {
    const trip: Trip | undefined = deps.trips.activeOf(driverId);
    return trip?.darkAt !== undefined;
  };

  const visible = (e: Entry, at: number) =>
    isShown(
      {
        online: e.availability?.online === true,
        hasPosition: e.hasPosition,
        lastSeenAt: e.lastSeenAt,
        dark: darkOf(e.driverId),
      },
      at,
      deps.staleAfterMs,
    );

  function entryOf(driverId: string): Entry {
    let e = table.get(driverId);
    if (!e) {
      e = {
        driverId,
        lat: 0,
        lng: 0,
        heading: 0,
        recordedAt: 0,
        seq: 0,
        hasPosition: false,
        lastSeenAt: 0,
        availability: undefined,
        shown: false,
      };
      table.set(driverId, e);
    }
    return e;
  }

  /** Tells every watcher a driver changed (moved, or shown state, trip or availability changed): O(1) per watcher. */
  function changed(e: Entry): void {
    const at = now();
    const shown = visible(e, at);
    if (!shown && !e.shown) return;
    e.shown = shown;
    for (const w of watchers) {
      if (w.needsSnapshot) continue;
      if (at - w.lastTakenAt > deps.stallMs) {
        w.resync();
        resyncs.inc();
        resyncTotal += 1;
        continue;
      }
      const inside = shown && inBox(w.box, e.lat, e.lng);
      if (inside) {
        w.changed.add(e.driverId);
        w.gone.delete(e.driverId);
      } else {
        w.changed.delete(e.driverId);
        if (w.sent.delete(e.driverId)) w.gone.add(e.driverId);
      }
      if (w.pending > deps.maxPending) {
        w.resync();
        resyncs.inc();
        resyncTotal += 1;
      }
      w.wake?.();
    }
  }

  function applyPoint(p: DriverPosition): void {
    const e = entryOf(p.driverId);
    e.lastSeenAt = Math.max(e.lastSeenAt, p.lastSeenAt?.getTime() ?? 0);
    const seq = Number(p.seq);
    let moved = false;
    if (p.location && seq >= e.seq) {
      moved = !e.hasPosition || e.lat !== p.location.lat || e.lng !== p.location.lng || e.heading !== p.heading;
      e.seq = seq;
      e.lat = p.location.lat;
      e.lng = p.location.lng;
      e.heading = p.heading;
      e.recordedAt = p.recordedAt?.getTime() ?? 0;
      e.hasPosition = true;
    }
    if (!e.availability) loadAvailability(p.driverId);
    // A point that only refreshes last-seen matters when it brings a silent driver back.
    if (moved || !e.shown) changed(e);
  }

  function applyStored(d: StoredDriver): void {
    const e = entryOf(d.driverId);
    e.lastSeenAt = Math.max(e.lastSeenAt, d.lastSeenAt);
    e.availability ??= d.availability;
    const p = d.position;
    if (p && p.seq >= e.seq && !(e.hasPosition && p.seq === e.seq)) {
      Object.assign(e, { seq: p.seq, lat: p.lat, lng: p.lng, heading: p.heading, recordedAt: p.recordedAt });
      e.hasPosition = true;
    }
    changed(e);
  }

  function loadAvailability(driverId: string): void {
    if (loading.has(driverId) || loading.size >= 10_000) return;
    loading.add(driverId);
    deps.store
      .get(driverId)
      .then((stored) => {
        if (stored && running) applyStored(stored);
      })
      .catch((error: unknown) =>
        deps.logger.warn({ err: error, driverId }, "could not read a driver for the fleet stream"),
      )
      .finally(() => loading.delete(driverId));
  }

  function sweep(): void {
    const at = now();
    for (const e of table.values()) {
      if (e.shown && !visible(e, at)) changed(e);
      else if (!e.hasPosition && !e.availability?.online && at - e.lastSeenAt > deps.staleAfterMs)
        table.delete(e.driverId);
    }
  }

  async function start(): Promise<void> {
    positions = deps.bus.subscribe(positionSubject, (msg) => {
      try {
        applyPoint(DriverPosition.decode(msg.data));
      } catch (error) {
        deps.logger.warn({ err: error }, "could not apply a fleet position");
      }
    });
    const announce = () => {
      interestedUntil = now() + 3 * FLEET_INTEREST_EVERY_MS;
      deps.bus.publish(interestSubject, new Uint8Array());
    };
    announce();
    timers = [setInterval(announce, FLEET_INTEREST_EVERY_MS), setInterval(sweep, SWEEP_MS)];
    for (const t of timers) t.unref();
    // After the subscription: a point recorded during the scan arrives live too, and sequence numbers order them.
    await deps.store.scan((drivers) => {
      for (const d of drivers) applyStored(d);
    });
  }

  function stop(): void {
    for (const t of timers) clearInterval(t);
    timers = [];
    positions?.unsubscribe();
    positions = undefined;
    table.clear();
    running = undefined;
  }

  function ensureRunning(): Promise<void> {
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = undefined;
    if (!running) {
      const starting = start();
      running = starting;
      starting.catch(() => {
        if (running === starting) stop();
      });
    }
    return running;
  }

  function release(w: Watcher): void {
    watchers.delete(w);
    if (watchers.size > 0 || closed) return;
    idleTimer = setTimeout(() => {
      if (watchers.size === 0) stop();
    }, IDLE_STOP_MS);
    idleTimer.unref();
  }

  function toFleetPosition(e: Entry): FleetPosition {
    const a = e.availability;
    return {
      driverId: e.driverId,
      transporterId: a?.transporterId ?? "",
      vehicleId: a?.vehicleId ?? "",
      vehicleType: a?.vehicleType ?? "",
      position: { lat: e.lat, lng: e.lng },
      heading: e.heading,
      recordedAt: new Date(e.recordedAt),
      bookingId: deps.trips.activeOf(e.driverId)?.bookingId ?? "",
    };
  }

  /** What the watcher should be sent now, or undefined when nothing is due. */
  function take(w: Watcher): FleetBatch[] | undefined {
    const at = now();
    w.lastTakenAt = at;
    if (w.needsSnapshot) {
      w.resync();
      w.needsSnapshot = false;
      const positions: FleetPosition[] = [];
      for (const e of table.values()) {
        if (!visible(e, at) || !inBox(w.box, e.lat, e.lng)) continue;
        positions.push(toFleetPosition(e));
        w.sent.set(e.driverId, at);
      }
      return chunks(positions, SNAPSHOT_CHUNK).map((part, i) => ({
        positions: part,
        goneDriverIds: [],
        snapshot: i === 0,
      }));
    }
    if (w.pending === 0) return undefined;
    const positions: FleetPosition[] = [];
    for (const driverId of w.changed) {
      if (!dueForSend(w.sent.get(driverId), at, w.minIntervalMs)) continue;
      w.changed.delete(driverId);
      const e = table.get(driverId);
      if (!e || !visible(e, at) || !inBox(w.box, e.lat, e.lng)) continue;
      positions.push(toFleetPosition(e));
      w.sent.set(driverId, at);
    }
    const goneDriverIds = [...w.gone];
    w.gone.clear();
    if (positions.length === 0 && goneDriverIds.length === 0) return undefined;
    return chunks(positions, SNAPSHOT_CHUNK).map((part, i) => ({
      positions: part,
      goneDriverIds: i === 0 ? goneDriverIds : [],
      snapshot: false,
    }));
  }

  return {
    /** Whether ingest should publish fleet positions: some hub (on any replica) has a watcher. */
    get interested(): boolean {
      return interestedUntil > now();
    },

    /** Called by ingest with each driver message's latest position (or the last one, when only last-seen moved). */
    publish(driverId: string, point: AcceptedPoint | undefined, seenAt: number): void {
      if (!point || interestedUntil <= now()) return;
      deps.bus.publish(
        positionSubject,
        DriverPosition.encode({
          driverId,
          location: { lat: point.lat, lng: point.lng },
          recordedAt: new Date(point.recordedAt),
          accuracyM: point.accuracyM,
          speedMps: point.speedMps,
          heading: point.heading,
          seq: point.seq,
          lastSeenAt: new Date(seenAt),
        }).finish(),
      );
    },

    /** Fleet's availability event for a driver, as the store applied it. */
    availabilityChanged(driverId: string, availability: DriverAvailability): void {
      if (!running) return;
      const e = entryOf(driverId);
      e.availability = availability;
      changed(e);
    },

    /** A trip started or ended: the driver's booking id (and colour) changes. */
    tripChanged(trip: Pick<Trip, "driverId">): void {
      if (!running || !trip.driverId) return;
      const e = table.get(trip.driverId);
      if (e) changed(e);
    },

    /** The batches of one console's box: a snapshot first, then changes every batchMs. */
    async *watch(box: Box, minIntervalMs: number, signal: AbortSignal): AsyncGenerator<FleetBatch> {
      const w = new Watcher(box, minIntervalMs, now());
      watchers.add(w);
      const onAbort = () => w.wake?.();
      signal.addEventListener("abort", onAbort, { once: true });
      try {
        await ensureRunning();
        while (!signal.aborted) {
          const batches = take(w);
          if (batches) for (const batch of batches) yield batch;
          // At most one batch per batchMs; sooner only for a resync.
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, deps.batchMs);
            w.wake = () => {
              if (signal.aborted || w.needsSnapshot) {
                clearTimeout(timer);
                resolve();
              }
            };
          });
          w.wake = undefined;
        }
      } finally {
        signal.removeEventListener("abort", onAbort);
        release(w);
      }
    },

    /** For tests and metrics: each open watcher's waiting changes and drivers shown. */
    stats(): { watchers: { pending: number; shown: number }[]; drivers: number; resyncs: number } {
      return {
        watchers: [...watchers].map((w) => ({ pending: w.pending, shown: w.sent.size })),
        drivers: table.size,
        resyncs: resyncTotal,
      };
    },

    close(): void {
      closed = true;
      if (idleTimer) clearTimeout(idleTimer);
      interest.unsubscribe();
      stop();
    },
  };
}
