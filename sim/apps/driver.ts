import { BookingStatus } from "@weelo/contracts/es/weelo/booking/v1/booking_pb";
import type { LocationUpload } from "@weelo/client/node";
import { codeOf, describe, isTransient, reasonOf, type Session } from "../api.js";
import { route, type LatLng, type RoutePoint } from "../geo.js";
import { rngFor } from "../random.js";
import type { TransporterApp } from "./transporter.js";
import { pause, statusName, type World } from "./world.js";

/**
 * How long after a refused status change the app waits for the stream to say the trip was taken
 * away before the run notes that it never did (a stream that was down says it when it reopens).
 */
const TOLD_GONE_WITHIN_MS = 30_000;

// ---------------------------------------------------------------------------------- drivers

interface Drive {
  points: RoutePoint[];
  done: () => void;
}

export class DriverApp {
  session!: Session;
  position: LatLng;
  onTrip = false;
  /** The GPS upload (StreamLocation through the SDK): each point tagged with its trip's booking, if any. */
  private upload: LocationUpload<string> | undefined;
  /** The sequence number whose ack ends the current drive. */
  private awaitedSeq: bigint | undefined;
  private drive: Drive | undefined;
  /** Booking whose moving fixes are being tagged as the trip's. */
  private tripBookingId: string | undefined;
  private readonly aborted = new Set<string>();
  /** Bookings the stream said were taken away (BookingCancelledCommand / BookingReopenedCommand). */
  private readonly toldGone = new Set<string>();
  private readonly started = new Set<string>();
  /** The step of the current trip and since when. */
  phase: { bookingId: string; what: string; since: number } | undefined;

  constructor(
    readonly driverId: string,
    readonly phone: string,
    start: LatLng,
    private readonly transporter: TransporterApp,
    private readonly world: World,
  ) {
    this.position = start;
  }

  async login(): Promise<void> {
    this.session = await this.world.gateway.login("driver", this.phone);
  }

  async goOnline(vehicleId: string): Promise<void> {
    const { gateway, ledger } = this.world;
    await gateway.call("SetAvailability", (o) =>
      this.session.client.drivers.setAvailability({ online: true, vehicleId }, o),
    );
    ledger.driversOnline += 1;
  }

  // ------------------------------------------------------------------ the location stream

  startStreaming(): void {
    const { ledger, closing } = this.world;
    if (closing.aborted) return;
    let reconnectAsked = false;
    this.upload = this.session.client.uploadLocation<string>({
      mode: "stream",
      signal: closing,
      onAck: ({ points, rejected }) => {
        ledger.pointsAcked += points.length;
        ledger.pointsRejected += rejected.length;
        // A rejected point of a trip is not in its path: the trip's check skips that ack's points.
        if (rejected.length > 0) return;
        for (const point of points) {
          if (point.tag)
            ledger.bookings.get(point.tag)?.ackedTripPoints.push({ seq: Number(point.seq), at: Date.now() });
        }
      },
      // Points written again on a new stream count as re-sent once the stream is up (its first answer).
      onResent: (count) => {
        ledger.pointsResent += count;
      },
      onCommand: (command) => {
        const kind = command.kind;
        if (kind.case === "assignment") this.onAssignment(kind.value.bookingId, kind.value.pickup, kind.value.drop);
        else if (kind.case === "cancelled" || kind.case === "reopened") this.abortTrip(kind.value.bookingId);
        else if (kind.case === "reconnect") reconnectAsked = true;
      },
      onBreak: ({ error }) => {
        ledger.streamEnd(
          error !== undefined
            ? `driver stream: error ${codeOf(error)} ${(error as Error).message.slice(0, 80)}`
            : reconnectAsked
              ? "driver stream: ended after ReconnectCommand"
              : "driver stream: ended by the server",
        );
        reconnectAsked = false;
        ledger.streamReconnects += 1;
      },
      onFailure: (error) => {
        if (closing.aborted) return;
        this.world.gateway.log.error("StreamLocation", describe(error));
        this.world.notes.push(`driver ${this.driverId}: the location stream stopped for good: ${describe(error)}`);
      },
    });
  }

  /**
   * One GPS fix per tick: the next point of the current drive, or the parked position (speed
   * 0: the server keeps it as last-seen, not as a breadcrumb).
   */
  tick(): void {
    const { ledger, closing } = this.world;
    if (closing.aborted) return;
    let fix: RoutePoint;
    let tripBookingId: string | undefined;
    let lastOfDrive: (() => void) | undefined;
    if (this.drive && this.drive.points.length > 0) {
      fix = this.drive.points.shift()!;
      tripBookingId = this.tripBookingId;
      if (this.drive.points.length === 0) {
        // The drive is over once this last fix is acknowledged.
        lastOfDrive = this.drive.done;
        this.drive = undefined;
      }
    } else {
      fix = { ...this.position, speedMps: 0, heading: 0 };
    }
    this.position = { lat: fix.lat, lng: fix.lng };
    if (!this.upload) return;
    const seq = this.upload.send(
      { lat: fix.lat, lng: fix.lng, accuracyM: 6, speedMps: fix.speedMps, heading: fix.heading },
      tripBookingId,
    );
    ledger.pointsSent += 1;
    ledger.pointsMeter.add(1);
    if (lastOfDrive) {
      const done = lastOfDrive;
      this.awaitedSeq = seq;
      void this.upload.acknowledged(seq).then(() => {
        if (this.awaitedSeq === seq) this.awaitedSeq = undefined;
        done();
      });
    }
  }

  /** Drives to a point at the configured speed; resolves when the arrival fix is acknowledged. */
  private driveTo(target: LatLng, bookingId: string, leg: string): Promise<void> {
    const { config } = this.world;
    const rng = rngFor(config.seed, "drive", bookingId, leg);
    const points = route(rng, this.position, target, {
      speedMps: config.speedMps,
      tickMs: config.tickMs,
      jitterM: config.gpsJitterM,
      dogLeg: rng.chance(0.5),
    });
    return new Promise((resolve) => {
      this.drive = { points, done: resolve };
    });
  }

  // ------------------------------------------------------------------ trips

  /** The transporter assigned this driver: if the stream's command does not come, the app finds the trip in its list. */
  expectAssignment(bookingId: string): void {
    const { gateway, closing, notes } = this.world;
    setTimeout(async () => {
      if (closing.aborted || this.started.has(bookingId) || this.aborted.has(bookingId)) return;
      notes.push(
        `driver ${this.driverId}: no assignment command for booking ${bookingId} within 10 s; the app found it with ListBookings`,
      );
      try {
        const read = await gateway.call("GetBooking", (o) => this.session.client.bookings.getBooking({ bookingId }, o));
        const booking = read.booking!;
        if (booking.status === BookingStatus.ASSIGNED && booking.pickup?.location && booking.drop?.location)
          this.onAssignment(bookingId, booking.pickup.location, booking.drop.location);
      } catch (error) {
        gateway.log.refusal("GetBooking(driver)", reasonOf(error));
      }
    }, 10_000).unref();
  }

  private onAssignment(bookingId: string, pickup: LatLng | undefined, drop: LatLng | undefined): void {
    if (this.started.has(bookingId) || this.aborted.has(bookingId) || !pickup || !drop) return;
    if (this.onTrip) {
      this.world.notes.push(`driver ${this.driverId} was assigned booking ${bookingId} while on another trip`);
      return;
    }
    this.started.add(bookingId);
    this.onTrip = true;
    void this.runTrip(bookingId, { lat: pickup.lat, lng: pickup.lng }, { lat: drop.lat, lng: drop.lng })
      .catch((error: unknown) => {
        // A call that failed past its retries (already counted): the app gives the trip up.
        this.world.notes.push(`driver ${this.driverId}: trip of booking ${bookingId} stopped: ${describe(error)}`);
      })
      .finally(() => {
        this.onTrip = false;
        this.tripBookingId = undefined;
        this.drive = undefined;
        this.transporter.release(this, bookingId);
      });
  }

  private abortTrip(bookingId: string): void {
    this.toldGone.add(bookingId);
    this.aborted.add(bookingId);
    if (this.tripBookingId === bookingId) {
      const drive = this.drive;
      this.drive = undefined;
      drive?.done();
    }
  }

  private async runTrip(bookingId: string, pickup: LatLng, drop: LatLng): Promise<void> {
    const { ledger } = this.world;
    const record = ledger.bookings.get(bookingId);
    const customer = record ? this.world.customers[record.customer] : undefined;
    const live = () => !this.aborted.has(bookingId) && !this.world.closing.aborted;
    const step = (what: string) => (this.phase = { bookingId, what, since: Date.now() });

    step("DRIVER_EN_ROUTE");
    if (!(await this.move(bookingId, BookingStatus.DRIVER_EN_ROUTE))) return;
    this.tripBookingId = bookingId;
    step("driving to the pickup");
    await this.driveTo(pickup, bookingId, "pickup");
    step("AT_PICKUP");
    if (!live() || !(await this.arrive(bookingId, BookingStatus.AT_PICKUP))) return;
    step("loading");
    await pause(this.world.config.stopMs, this.world.closing);
    step("reading the pickup code");
    const codes = customer ? await customer.codes(bookingId) : undefined;
    step("IN_TRANSIT");
    if (!live() || !codes || !(await this.move(bookingId, BookingStatus.IN_TRANSIT, codes.pickupCode))) return;
    step("driving to the drop");
    await this.driveTo(drop, bookingId, "drop");
    step("AT_DROPOFF");
    if (!live() || !(await this.arrive(bookingId, BookingStatus.AT_DROPOFF))) return;
    this.tripBookingId = undefined;
    step("unloading");
    await pause(this.world.config.stopMs, this.world.closing);
    step("COMPLETED");
    if (!live() || !(await this.move(bookingId, BookingStatus.COMPLETED, codes.deliveryCode))) return;
    if (record) record.completedAt = Date.now();
  }

  /** What the app is doing on its trip, for the report of a run that ends mid-trip. */
  describePhase(now = Date.now()): string {
    if (!this.phase) return "no trip";
    const left = this.drive ? `, ${this.drive.points.length} fixes to go` : "";
    const upload = this.upload;
    const waiting =
      this.awaitedSeq !== undefined && upload
        ? `, waiting for the ack of seq ${this.awaitedSeq} (acked ${upload.acked}, sent ${upload.lastSeq}, ${upload.unacknowledged} unacked, stream ${upload.streaming ? "open" : "closed"})`
        : "";
    return `${this.phase.what} for ${Math.round((now - this.phase.since) / 1000)} s${left}${waiting}`;
  }

  /** AT_PICKUP / AT_DROPOFF: the arrival fix is acknowledged; a stale or far position is retried a few times. */
  private async arrive(bookingId: string, status: BookingStatus): Promise<boolean> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const result = await this.move(bookingId, status, undefined, attempt < 4);
      if (result !== "retry") return result;
      await pause(this.world.config.tickMs * 2, this.world.closing);
    }
    return false;
  }

  /** One status change; false when the trip is over for this driver (cancelled, taken away), "retry" for a position refusal. */
  private async move(
    bookingId: string,
    status: BookingStatus,
    code?: string,
    retryPosition = false,
  ): Promise<boolean | "retry"> {
    const { gateway } = this.world;
    try {
      await gateway.call("UpdateBookingStatus", (o) =>
        this.session.client.bookings.updateBookingStatus(
          { bookingId, status, location: this.position, ...(code ? { code } : {}) },
          o,
        ),
      );
      return true;
    } catch (error) {
      const reason = reasonOf(error);
      if (reason === "ILLEGAL_STATUS_TRANSITION" && (await this.alreadyIn(bookingId, status))) {
        // A retry of a change whose first answer was lost (timeout, restart): it had been made.
        this.world.notes.push(
          `driver ${this.driverId}: a retried ${statusName(status)} of booking ${bookingId} was refused as ILLEGAL_STATUS_TRANSITION although the booking already was ${statusName(status)} (the first attempt had succeeded; the retry is not answered idempotently)`,
        );
        return true;
      }
      if (retryPosition && /NOT_AT_STOP|POSITION/.test(reason)) {
        gateway.log.refusal(`UpdateBookingStatus ${statusName(status)}`, reason);
        return "retry";
      }
      if (!isTransient(error)) gateway.log.refusal(`UpdateBookingStatus ${statusName(status)}`, reason);
      if (!this.aborted.has(bookingId) && !isTransient(error)) {
        // The stream should say so (BookingCancelledCommand / BookingReopenedCommand). The app may
        // have tried just before it came (the change and the command race): wait for it a while.
        const refusal = `${statusName(status)} of booking ${bookingId} refused (${reason}: ${(error as Error).message})`;
        setTimeout(() => {
          if (this.toldGone.has(bookingId) || this.world.closing.aborted) return;
          this.world.notes.push(
            `driver ${this.driverId}: ${refusal}; no cancellation or reopen command came on the stream within ${TOLD_GONE_WITHIN_MS / 1000} s`,
          );
        }, TOLD_GONE_WITHIN_MS).unref();
      }
      this.aborted.add(bookingId);
      return false;
    }
  }

  /** True when the booking is in the given status now (read as the driver). */
  private async alreadyIn(bookingId: string, status: BookingStatus): Promise<boolean> {
    const { gateway } = this.world;
    try {
      const read = await gateway.call("GetBooking", (o) => this.session.client.bookings.getBooking({ bookingId }, o));
      return read.booking?.status === status;
    } catch {
      return false;
    }
  }

  close(): Promise<void> {
    const upload = this.upload;
    this.upload = undefined;
    return upload?.stop() ?? Promise.resolve();
  }
}
