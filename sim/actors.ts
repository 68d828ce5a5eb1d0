/**
 * The apps of the city: customers who quote, book, watch and sometimes cancel; transporters
 * who set up fleets, watch offers, accept or decline, and assign drivers; drivers who go
 * online, stream GPS over StreamLocation (acks, re-sending what was not acked after a
 * reconnect), drive to the pickup and the drop, and move each trip through every status with
 * the codes the customer reads from GetBooking. They use only the gateway's public API.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { BookingStatus } from "@weelo/contracts/es/weelo/booking/v1/booking_pb";
import { OfferStatus, type Offer } from "@weelo/contracts/es/weelo/dispatch/v1/dispatch_pb";
import type { LocationUpload } from "@weelo/client/node";
import { codeOf, describe, isTransient, reasonOf, type Gateway, type Session } from "./api.js";
import { route, type LatLng, type RoutePoint } from "./geo.js";
import type { Status } from "./invariants.js";
import type { Ledger, OrderRecord } from "./ledger.js";
import { chooseTrucks, declines, planOrder, registrationFor, phoneFor, runTag, type TransporterPlan } from "./plan.js";
import type { SimConfig } from "./profiles.js";
import { rngFor } from "./random.js";

export interface World {
  gateway: Gateway;
  ledger: Ledger;
  config: SimConfig;
  tag: string;
  /** Aborted when the run ends: streams close, loops stop. */
  closing: AbortSignal;
  customers: CustomerApp[];
  /** Problems the apps met that the report should name (not counted as failed calls). */
  notes: string[];
}

const STATUS_NAMES: Record<number, Status> = {
  [BookingStatus.PENDING]: "PENDING",
  [BookingStatus.CONFIRMED]: "CONFIRMED",
  [BookingStatus.ASSIGNED]: "ASSIGNED",
  [BookingStatus.DRIVER_EN_ROUTE]: "DRIVER_EN_ROUTE",
  [BookingStatus.AT_PICKUP]: "AT_PICKUP",
  [BookingStatus.IN_TRANSIT]: "IN_TRANSIT",
  [BookingStatus.AT_DROPOFF]: "AT_DROPOFF",
  [BookingStatus.COMPLETED]: "COMPLETED",
  [BookingStatus.CANCELLED]: "CANCELLED",
};

/** A protobuf booking status as the invariants name it. */
export function statusName(status: BookingStatus): Status {
  const name = STATUS_NAMES[status];
  if (!name) throw new Error(`booking status ${status} is not a status of the machine`);
  return name;
}

const address = (location: LatLng, name: string, phone: string) => ({
  line1: "Gate 2, Plot 14",
  city: "Pune",
  state: "Maharashtra",
  pincode: "411026",
  location,
  contactName: name,
  contactPhone: `+91${phone}`,
});

/** Waits ms unless the run is closing (then returns early). */
async function pause(ms: number, signal: AbortSignal): Promise<void> {
  await sleep(ms, undefined, { signal }).catch(() => undefined);
}

// ---------------------------------------------------------------------------------- customers

export class CustomerApp {
  session!: Session;
  readonly phone: string;

  constructor(
    readonly index: number,
    private readonly world: World,
  ) {
    this.phone = phoneFor("customer", world.tag, index);
  }

  async login(): Promise<void> {
    this.session = await this.world.gateway.login("customer", this.phone);
  }

  /** Quotes and books order k of the run, watches its bookings, and cancels one if the plan says so. */
  async placeOrder(index: number): Promise<void> {
    const { gateway, ledger, config } = this.world;
    const plan = planOrder(config, index);
    try {
      const quote = await gateway.call("GetQuote", (o) =>
        this.session.client.pricing.getQuote(
          { pickup: plan.pickup, drop: plan.drop, vehicleType: plan.vehicleType, vehicleCount: plan.vehicleCount },
          o,
        ),
      );
      const created = await gateway.call("CreateBooking", (o) =>
        this.session.client.bookings.createBooking(
          {
            quoteToken: quote.quoteToken,
            pickup: address(plan.pickup, "Anil Shinde", this.phone),
            drop: address(plan.drop, "Kavita Rao", this.phone),
            vehicleType: plan.vehicleType,
            vehicleCount: plan.vehicleCount,
            goodsType: plan.goodsType,
            weightKg: plan.weightKg,
            idempotencyKey: `sim-${this.world.tag}-${config.seed}-order-${index}`,
          },
          o,
        ),
      );
      const order = created.order!;
      const record: OrderRecord = {
        id: order.id,
        index,
        customer: this.index,
        vehicleType: plan.vehicleType,
        vehicleCount: plan.vehicleCount,
        bookingIds: order.bookings.map((b) => b.id),
        pickup: plan.pickup,
        drop: plan.drop,
        createdAt: Date.now(),
      };
      ledger.addOrder(record);
      for (const id of record.bookingIds) void this.watch(id);
      if (plan.cancelAfterMs !== undefined) void this.cancelLater(record, plan.cancelAfterMs);
    } catch (error) {
      ledger.ordersFailed += 1;
      if (!isTransient(error)) gateway.log.error("placeOrder", describe(error));
      this.world.notes.push(`order ${index} was not placed: ${reasonOf(error)}`);
    }
  }

  /** Follows a booking on WatchBooking until a final status; the SDK reconnects after the last sequence seen. */
  async watch(bookingId: string): Promise<void> {
    const { gateway, ledger, closing } = this.world;
    const record = ledger.bookings.get(bookingId)!;
    record.watching = true;
    let last: Status | undefined;
    try {
      const stream = this.session.client.watchBooking(bookingId, {
        signal: closing,
        onBreak: ({ error }) => {
          ledger.streamEnd(
            error === undefined
              ? `WatchBooking: ended before a final status (last ${last})`
              : `WatchBooking: ${describe(error)} ${(error as Error).message.slice(0, 80)}`,
          );
          ledger.watchReconnects += 1;
        },
      });
      for await (const message of stream) {
        if (message.booking) {
          const status = statusName(message.booking.status);
          record.watch.push({ kind: "state", sequence: Number(message.sequence), status });
          last ??= status;
        } else if (message.change) {
          const change = message.change;
          record.watch.push({
            kind: "change",
            sequence: Number(change.sequence),
            from: change.from ? statusName(change.from) : undefined,
            to: statusName(change.to),
          });
          last = statusName(change.to);
        }
      }
    } catch (error) {
      if (!closing.aborted) {
        ledger.streamEnd(`WatchBooking: ${describe(error)} ${(error as Error).message.slice(0, 80)}`);
        gateway.log.error("WatchBooking", describe(error));
      }
    } finally {
      record.watching = false;
    }
  }

  /** The pickup and delivery codes of a booking, as the customer's app reads them. */
  async codes(bookingId: string): Promise<{ pickupCode: string; deliveryCode: string }> {
    const { gateway } = this.world;
    const read = await gateway.call("GetBooking", (o) => this.session.client.bookings.getBooking({ bookingId }, o));
    return { pickupCode: read.booking!.pickupCode, deliveryCode: read.booking!.deliveryCode };
  }

  private async cancelLater(order: OrderRecord, afterMs: number): Promise<void> {
    const { gateway, ledger, closing } = this.world;
    await pause(afterMs, closing);
    if (closing.aborted) return;
    const bookingId = order.bookingIds[order.index % order.bookingIds.length]!;
    try {
      const answer = await gateway.call("CancelBooking", (o) =>
        this.session.client.bookings.cancelBooking({ bookingId, reason: "plans changed" }, o),
      );
      const booking = ledger.bookings.get(bookingId)!;
      if (answer.booking?.status === BookingStatus.CANCELLED) {
        booking.cancelledBy = "customer";
        booking.cancelledAt ??= Date.now();
      }
    } catch (error) {
      // Too late (the goods are loaded) or already over: a refusal the app shows. A transient
      // failure that outlasted the retries is already counted as a failed call.
      if (!isTransient(error)) gateway.log.refusal("CancelBooking", reasonOf(error));
    }
  }
}

// ---------------------------------------------------------------------------------- transporters

interface Unit {
  vehicleId: string;
  vehicleType: string;
  driver: DriverApp;
  /** Booking the unit is held for (reserved while accepting, then on the trip), if any. */
  holding: string | undefined;
}

export class TransporterApp {
  session!: Session;
  readonly units: Unit[] = [];
  /** Offers already decided (accepted, declined or passed on), by id. */
  private readonly decided = new Set<string>();

  constructor(
    readonly plan: TransporterPlan,
    private readonly world: World,
  ) {}

  /** Logs in, sets the base, adds vehicles and drivers; the drivers log in and go online. */
  async setUp(): Promise<void> {
    const { gateway } = this.world;
    this.session = await gateway.login("transporter", this.plan.phone);
    await gateway.call("UpdateTransporterProfile", (o) =>
      this.session.client.transporters.updateTransporterProfile(
        { baseLocation: this.plan.base, serviceRadiusKm: this.plan.serviceRadiusKm },
        o,
      ),
    );
    for (const [k, truck] of this.plan.trucks.entries()) {
      // One idempotency key per request, so a retry after a lost answer adds nothing twice.
      let registration = truck.registration;
      let vehicleKey = randomUUID();
      let phone = truck.driverPhone;
      let driverKey = randomUUID();
      const vehicle = await this.retryTaken(
        (o) =>
          this.session.client.vehicles.addVehicle(
            {
              idempotencyKey: vehicleKey,
              registrationNumber: registration,
              vehicleType: truck.vehicleType,
              capacityKg: capacityOf(truck.vehicleType),
            },
            o,
          ),
        () => {
          registration = registrationFor(runTag(), k);
          vehicleKey = randomUUID();
        },
      );
      const driver = await this.retryTaken(
        (o) =>
          this.session.client.drivers.addDriver(
            { idempotencyKey: driverKey, name: truck.driverName, phone, licenceNumber: truck.licence },
            o,
          ),
        () => {
          phone = phoneFor("driver", runTag(), k);
          driverKey = randomUUID();
        },
      );
      const app = new DriverApp(driver.driver!.id, phone, truck.start, this, this.world);
      this.units.push({
        vehicleId: vehicle.vehicle!.id,
        vehicleType: truck.vehicleType,
        driver: app,
        holding: undefined,
      });
    }
    for (const unit of this.units) {
      await unit.driver.login();
      await unit.driver.goOnline(unit.vehicleId);
      unit.driver.startStreaming();
    }
  }

  /** Runs a create call; when a registration or phone is taken (an earlier run), changes it and tries again. */
  private async retryTaken<T>(fn: (o: { timeoutMs: number }) => Promise<T>, change: () => void): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.world.gateway.call("fleet setup", (o) => fn(o));
      } catch (error) {
        if (error instanceof ConnectError && error.code === Code.AlreadyExists && attempt < 3) {
          change();
          continue;
        }
        throw error;
      }
    }
  }

  /** Holds WatchOffers open for the whole run (the SDK reconnects when it breaks); decides each offer once. */
  async watchOffers(): Promise<void> {
    const { gateway, ledger, closing } = this.world;
    try {
      const stream = this.session.client.watchOffers({
        signal: closing,
        onBreak: ({ error }) => {
          ledger.streamEnd(
            error === undefined
              ? "WatchOffers: ended by the server"
              : `WatchOffers: ${describe(error)} ${(error as Error).message.slice(0, 80)}`,
          );
          ledger.offerStreamReconnects += 1;
        },
      });
      for await (const message of stream) {
        if (message.kind.case === "offer") this.onOffer(message.kind.value);
      }
    } catch (error) {
      if (closing.aborted) return;
      ledger.streamEnd(`WatchOffers: ${describe(error)} ${(error as Error).message.slice(0, 80)}`);
      gateway.log.error("WatchOffers", describe(error));
      this.world.notes.push(`transporter ${this.plan.index}: WatchOffers failed for good: ${reasonOf(error)}`);
    }
  }

  private onOffer(offer: Offer): void {
    const { ledger, config } = this.world;
    const order = ledger.orders.get(offer.orderId);
    if (order) {
      order.firstOfferAt ??= Date.now();
      if (offer.expiresAt)
        order.offerExpiresAt = Math.max(order.offerExpiresAt ?? 0, timestampDate(offer.expiresAt).getTime());
    }
    if (offer.status !== OfferStatus.OPEN || offer.vehicleCountOpen <= 0 || this.decided.has(offer.id)) return;
    this.decided.add(offer.id);
    if (!order) return; // not an order of this run: leave it to others
    if (declines(config, this.plan.index, order.index)) {
      void this.decline(offer, "busy with other loads");
      return;
    }
    const free = this.units
      .filter((u) => u.holding === undefined && u.vehicleType === offer.vehicleType && !u.driver.onTrip)
      .map((unit) => ({ unit, position: unit.driver.position }));
    // The free trucks nearest the pickup and near enough, as many as the order has open.
    const taking = chooseTrucks(free, order.pickup, offer.vehicleCountOpen, config.maxPickupM).map((c) => c.unit);
    if (taking.length === 0) {
      void this.decline(offer, free.length === 0 ? "no truck free" : "no truck near the pickup");
      return;
    }
    for (const unit of taking) unit.holding = `offer:${offer.id}`;
    void this.accept(offer, taking);
  }

  private async decline(offer: Offer, reason: string): Promise<void> {
    const { gateway, ledger } = this.world;
    try {
      await gateway.call("DeclineOffer", (o) =>
        this.session.client.dispatch.declineOffer({ offerId: offer.id, reason }, o),
      );
      ledger.declines += 1;
    } catch (error) {
      if (isTransient(error)) return;
      gateway.log.refusal("DeclineOffer", reasonOf(error));
    }
  }

  private async accept(offer: Offer, units: Unit[]): Promise<void> {
    const { gateway, ledger } = this.world;
    let taking = units;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const accepted = await gateway.call("AcceptOffer", (o) =>
          this.session.client.dispatch.acceptOffer({ offerId: offer.id, vehicleCount: taking.length }, o),
        );
        const at = Date.now();
        ledger.acceptances.push({
          orderId: offer.orderId,
          transporter: this.session.userId,
          bookingIds: [...accepted.bookingIds],
          at,
        });
        for (const unit of units)
          if (!taking.includes(unit) || taking.indexOf(unit) >= accepted.bookingIds.length) unit.holding = undefined;
        accepted.bookingIds.forEach((bookingId, i) => {
          const booking = ledger.bookings.get(bookingId);
          if (booking) {
            booking.acceptedAt ??= at;
            booking.transporter = this.plan.index;
          }
          const unit = taking[i];
          if (unit) {
            unit.holding = bookingId;
            void this.assign(bookingId, unit);
          }
        });
        return;
      } catch (error) {
        const reason = reasonOf(error);
        if (!isTransient(error)) gateway.log.refusal("AcceptOffer", reason);
        if (reason === "OFFER_ALREADY_ACCEPTED") {
          // An earlier attempt (its answer lost to a restart) took the trucks: find what it took.
          await this.recoverAccepted(offer, taking);
          for (const unit of units) if (unit.holding === `offer:${offer.id}`) unit.holding = undefined;
          return;
        }
        if (reason === "NOT_ENOUGH_TRUCKS_OPEN" && attempt === 0 && taking.length > 1) {
          for (const unit of taking.slice(1)) unit.holding = undefined;
          taking = taking.slice(0, 1);
          continue;
        }
        break;
      }
    }
    for (const unit of units) if (unit.holding === `offer:${offer.id}`) unit.holding = undefined;
  }

  /**
   * The bookings of an order this transporter holds without a driver (CONFIRMED), read back
   * with ListBookings as the app does when it comes back: recorded as the acceptance and assigned.
   */
  private async recoverAccepted(offer: Offer, units: Unit[]): Promise<void> {
    const { gateway, ledger, notes } = this.world;
    const held: string[] = [];
    let pageToken = "";
    do {
      const page = await gateway.call("ListBookings", (o) =>
        this.session.client.bookings.listBookings({ pageSize: 100, pageToken, status: BookingStatus.CONFIRMED }, o),
      );
      for (const booking of page.bookings) if (booking.orderId === offer.orderId) held.push(booking.id);
      pageToken = page.nextPageToken;
    } while (pageToken);
    notes.push(
      `transporter ${this.plan.index}: AcceptOffer retried after a lost answer said OFFER_ALREADY_ACCEPTED; ${held.length} booking(s) of order ${offer.orderId} found again with ListBookings`,
    );
    if (held.length === 0) return;
    const at = Date.now();
    ledger.acceptances.push({ orderId: offer.orderId, transporter: this.session.userId, bookingIds: held, at });
    held.forEach((bookingId, i) => {
      const booking = ledger.bookings.get(bookingId);
      if (booking) {
        booking.acceptedAt ??= at;
        booking.transporter = this.plan.index;
      }
      const unit = units[i];
      if (unit) {
        unit.holding = bookingId;
        void this.assign(bookingId, unit);
      }
    });
  }

  /** Assigns a held truck's driver to a booking; a driver the system still sees on a trip is retried for a while, then the booking is given up. */
  private async assign(bookingId: string, unit: Unit): Promise<void> {
    const { gateway, ledger, closing } = this.world;
    const giveUpAt = Date.now() + 20_000;
    for (let wait = 250; !closing.aborted; wait = Math.min(wait * 2, 2000)) {
      try {
        await gateway.call("AssignDriver", (o) =>
          this.session.client.dispatch.assignDriver(
            { bookingId, driverId: unit.driver.driverId, vehicleId: unit.vehicleId },
            o,
          ),
        );
        const booking = ledger.bookings.get(bookingId);
        if (booking) {
          booking.assignedAt ??= Date.now();
          booking.driver = this.units.indexOf(unit);
        }
        unit.driver.expectAssignment(bookingId);
        return;
      } catch (error) {
        const reason = reasonOf(error);
        if (isTransient(error)) break;
        gateway.log.refusal("AssignDriver", reason);
        if (/BUSY/.test(reason) && Date.now() < giveUpAt) {
          await pause(wait, closing);
          continue;
        }
        break;
      }
    }
    // Could not assign: give the booking back to the marketplace rather than sit on it.
    unit.holding = undefined;
    if (closing.aborted) return;
    try {
      await gateway.call("CancelBooking", (o) =>
        this.session.client.bookings.cancelBooking({ bookingId, reason: "no driver free after all" }, o),
      );
    } catch (error) {
      gateway.log.refusal("CancelBooking(transporter)", reasonOf(error));
    }
  }

  /** A driver's trip ended (delivered, cancelled or taken away): the truck is free again. */
  release(driver: DriverApp, bookingId: string): void {
    const unit = this.units.find((u) => u.driver === driver);
    if (unit && unit.holding === bookingId) unit.holding = undefined;
  }
}

function capacityOf(vehicleType: string): number {
  return { mini_truck: 750, pickup_8ft: 1250, lcv_10ft: 2500, lcv_14ft: 4000 }[vehicleType] ?? 1000;
}

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
        // The stream should have said so (BookingCancelledCommand / BookingReopenedCommand) before the app tried.
        this.world.notes.push(
          `driver ${this.driverId}: ${statusName(status)} of booking ${bookingId} refused (${reason}: ${(error as Error).message}); no cancellation or reopen command had come on the stream`,
        );
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
