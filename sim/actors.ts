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
import type { StreamLocationResponse } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_service";
import type { ClientDuplexStream } from "@grpc/grpc-js";
import { describe, isTransient, isUnauthenticated, reasonOf, type Gateway, type Session } from "./api.js";
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
      const quote = await gateway.call(
        "GetQuote",
        (o) =>
          gateway.pricing.getQuote(
            { pickup: plan.pickup, drop: plan.drop, vehicleType: plan.vehicleType, vehicleCount: plan.vehicleCount },
            o,
          ),
        this.session,
      );
      const created = await gateway.call(
        "CreateBooking",
        (o) =>
          gateway.bookings.createBooking(
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
        this.session,
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

  /** Follows a booking on WatchBooking until a final status, reconnecting after the last sequence seen. */
  async watch(bookingId: string): Promise<void> {
    const { gateway, ledger, closing } = this.world;
    const record = ledger.bookings.get(bookingId)!;
    record.watching = true;
    let after = 0;
    let last: Status | undefined;
    let failures = 0;
    try {
      while (!closing.aborted) {
        try {
          const stream = gateway.bookings.watchBooking(
            { bookingId, afterSequence: BigInt(after) },
            { headers: { authorization: `Bearer ${this.session.token}` }, signal: closing },
          );
          for await (const message of stream) {
            failures = 0;
            if (message.booking) {
              const status = statusName(message.booking.status);
              record.watch.push({ kind: "state", sequence: Number(message.sequence), status });
              if (after === 0) {
                after = Number(message.sequence);
                last = status;
              }
            } else if (message.change) {
              const change = message.change;
              record.watch.push({
                kind: "change",
                sequence: Number(change.sequence),
                from: change.from ? statusName(change.from) : undefined,
                to: statusName(change.to),
              });
              after = Number(change.sequence);
              last = statusName(change.to);
            }
          }
          if (last === "COMPLETED" || last === "CANCELLED") return;
          ledger.streamEnd(`WatchBooking: ended before a final status (last ${last})`);
        } catch (error) {
          if (closing.aborted) return;
          ledger.streamEnd(`WatchBooking: ${describe(error)} ${(error as Error).message.slice(0, 80)}`);
          if (isUnauthenticated(error)) await this.session.refresh().catch(() => undefined);
          else if (!isTransient(error)) {
            gateway.log.error("WatchBooking", describe(error));
            return;
          }
        }
        ledger.watchReconnects += 1;
        failures += 1;
        await pause(Math.min(200 * 2 ** failures, 3000), closing);
      }
    } finally {
      record.watching = false;
    }
  }

  /** The pickup and delivery codes of a booking, as the customer's app reads them. */
  async codes(bookingId: string): Promise<{ pickupCode: string; deliveryCode: string }> {
    const { gateway } = this.world;
    const read = await gateway.call("GetBooking", (o) => gateway.bookings.getBooking({ bookingId }, o), this.session);
    return { pickupCode: read.booking!.pickupCode, deliveryCode: read.booking!.deliveryCode };
  }

  private async cancelLater(order: OrderRecord, afterMs: number): Promise<void> {
    const { gateway, ledger, closing } = this.world;
    await pause(afterMs, closing);
    if (closing.aborted) return;
    const bookingId = order.bookingIds[order.index % order.bookingIds.length]!;
    try {
      const answer = await gateway.call(
        "CancelBooking",
        (o) => gateway.bookings.cancelBooking({ bookingId, reason: "plans changed" }, o),
        this.session,
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
    await gateway.call(
      "UpdateTransporterProfile",
      (o) =>
        gateway.transporters.updateTransporterProfile(
          { baseLocation: this.plan.base, serviceRadiusKm: this.plan.serviceRadiusKm },
          o,
        ),
      this.session,
    );
    for (const [k, truck] of this.plan.trucks.entries()) {
      // One idempotency key per request, so a retry after a lost answer adds nothing twice.
      let registration = truck.registration;
      let vehicleKey = randomUUID();
      let phone = truck.driverPhone;
      let driverKey = randomUUID();
      const vehicle = await this.retryTaken(
        () =>
          gateway.vehicles.addVehicle(
            {
              idempotencyKey: vehicleKey,
              registrationNumber: registration,
              vehicleType: truck.vehicleType,
              capacityKg: capacityOf(truck.vehicleType),
            },
            { headers: this.auth() },
          ),
        () => {
          registration = registrationFor(runTag(), k);
          vehicleKey = randomUUID();
        },
      );
      const driver = await this.retryTaken(
        () =>
          gateway.drivers.addDriver(
            { idempotencyKey: driverKey, name: truck.driverName, phone, licenceNumber: truck.licence },
            { headers: this.auth() },
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

  private auth(): Record<string, string> {
    return { authorization: `Bearer ${this.session.token}` };
  }

  /** Runs a create call; when a registration or phone is taken (an earlier run), changes it and tries again. */
  private async retryTaken<T>(fn: () => Promise<T>, change: () => void): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.world.gateway.call("fleet setup", () => fn());
      } catch (error) {
        if (error instanceof ConnectError && error.code === Code.AlreadyExists && attempt < 3) {
          change();
          continue;
        }
        throw error;
      }
    }
  }

  /** Holds WatchOffers open for the whole run, reconnecting when it breaks; decides each offer once. */
  async watchOffers(): Promise<void> {
    const { gateway, ledger, closing } = this.world;
    let failures = 0;
    while (!closing.aborted) {
      try {
        for await (const message of gateway.dispatch.watchOffers({}, { headers: this.auth(), signal: closing })) {
          failures = 0;
          if (message.kind.case === "offer") this.onOffer(message.kind.value);
        }
        ledger.streamEnd("WatchOffers: ended by the server");
      } catch (error) {
        if (closing.aborted) return;
        ledger.streamEnd(`WatchOffers: ${describe(error)} ${(error as Error).message.slice(0, 80)}`);
        if (isUnauthenticated(error)) await this.session.refresh().catch(() => undefined);
        else if (!isTransient(error)) {
          gateway.log.error("WatchOffers", describe(error));
          this.world.notes.push(`transporter ${this.plan.index}: WatchOffers failed for good: ${reasonOf(error)}`);
          return;
        }
      }
      ledger.offerStreamReconnects += 1;
      failures += 1;
      await pause(Math.min(200 * 2 ** failures, 3000), closing);
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
      await gateway.call(
        "DeclineOffer",
        (o) => gateway.dispatch.declineOffer({ offerId: offer.id, reason }, o),
        this.session,
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
        const accepted = await gateway.call(
          "AcceptOffer",
          (o) => gateway.dispatch.acceptOffer({ offerId: offer.id, vehicleCount: taking.length }, o),
          this.session,
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
      const page = await gateway.call(
        "ListBookings",
        (o) => gateway.bookings.listBookings({ pageSize: 100, pageToken, status: BookingStatus.CONFIRMED }, o),
        this.session,
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
        await gateway.call(
          "AssignDriver",
          (o) =>
            gateway.dispatch.assignDriver({ bookingId, driverId: unit.driver.driverId, vehicleId: unit.vehicleId }, o),
          this.session,
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
      await gateway.call(
        "CancelBooking",
        (o) => gateway.bookings.cancelBooking({ bookingId, reason: "no driver free after all" }, o),
        this.session,
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

/** A fix the app has sent and keeps until it is acknowledged. */
interface SentPoint {
  seq: number;
  fix: RoutePoint;
  recordedAt: Date;
  /** The booking whose trip this moving fix belongs to, if any. */
  tripBookingId: string | undefined;
}

interface Drive {
  points: RoutePoint[];
  done: () => void;
}

export class DriverApp {
  session!: Session;
  position: LatLng;
  onTrip = false;
  private seq = 0;
  private acked = 0;
  private readonly pending: SentPoint[] = [];
  private stream: ClientDuplexStream<unknown, StreamLocationResponse> | undefined;
  private drive: Drive | undefined;
  /** Booking whose moving fixes are being tagged as the trip's. */
  private tripBookingId: string | undefined;
  private readonly ackWaiters: { seq: number; resolve: () => void }[] = [];
  private readonly aborted = new Set<string>();
  private readonly started = new Set<string>();
  private reconnecting = false;
  private streamFailures = 0;
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
    await gateway.call(
      "SetAvailability",
      (o) => gateway.drivers.setAvailability({ online: true, vehicleId }, o),
      this.session,
    );
    ledger.driversOnline += 1;
  }

  // ------------------------------------------------------------------ the location stream

  startStreaming(): void {
    this.connect();
  }

  private connect(): void {
    const { gateway, ledger, closing } = this.world;
    if (closing.aborted) return;
    const stream = gateway.openLocationStream(this.session.token) as unknown as ClientDuplexStream<
      unknown,
      StreamLocationResponse
    >;
    this.stream = stream;
    let reconnectAfter: number | undefined;
    // Points written again on this stream count as re-sent once the stream is up (its first answer).
    let resending = this.pending.length;
    stream.on("data", (message: StreamLocationResponse) => {
      this.streamFailures = 0;
      ledger.pointsResent += resending;
      resending = 0;
      if (message.kind?.$case === "ack") this.onAck(message.kind.value.ackedSeq, message.kind.value.rejected);
      else if (message.kind?.$case === "command") {
        const command = message.kind.value.kind;
        if (command?.$case === "assignment")
          this.onAssignment(command.value.bookingId, command.value.pickup, command.value.drop);
        else if (command?.$case === "cancelled") this.abortTrip(command.value.bookingId);
        else if (command?.$case === "reopened") this.abortTrip(command.value.bookingId);
        else if (command?.$case === "reconnect") reconnectAfter = command.value.retryAfterMs;
      }
    });
    const lost = () => {
      if (this.stream !== stream) return;
      this.stream = undefined;
      if (closing.aborted) return;
      ledger.streamReconnects += 1;
      this.streamFailures += 1;
      const wait = reconnectAfter ?? Math.min(100 * 2 ** this.streamFailures, 3000);
      this.reconnecting = true;
      setTimeout(() => {
        this.reconnecting = false;
        this.connect();
      }, wait).unref();
    };
    stream.on("end", () =>
      ledger.streamEnd(
        reconnectAfter !== undefined
          ? "driver stream: ended after ReconnectCommand"
          : "driver stream: ended by the server",
      ),
    );
    stream.on("error", (error: { code?: number; details?: string }) => {
      ledger.streamEnd(`driver stream: error ${error.code ?? "?"} ${String(error.details ?? "").slice(0, 80)}`);
      // UNAUTHENTICATED (16): the access token expired; a new one before the next stream.
      if (error.code === 16)
        void this.session
          .refresh()
          .catch(() => undefined)
          .finally(lost);
      else lost();
    });
    stream.on("end", lost);
    // Everything not acknowledged goes again on the new stream (the server ignores duplicates).
    if (this.pending.length > 0) {
      for (let i = 0; i < this.pending.length; i += 100) this.write(this.pending.slice(i, i + 100));
    }
  }

  private write(points: SentPoint[]): void {
    this.stream?.write({
      points: points.map((p) => ({
        seq: p.seq,
        recordedAt: p.recordedAt,
        lat: p.fix.lat,
        lng: p.fix.lng,
        accuracyM: 6,
        speedMps: p.fix.speedMps,
        heading: p.fix.heading,
      })),
    });
  }

  private onAck(ackedSeq: number, rejected: number): void {
    const { ledger } = this.world;
    if (ackedSeq <= this.acked) return;
    this.acked = ackedSeq;
    ledger.pointsRejected += rejected;
    while (this.pending.length > 0 && this.pending[0]!.seq <= ackedSeq) {
      const point = this.pending.shift()!;
      ledger.pointsAcked += 1;
      // A rejected point cannot be told apart within its ack: the trip's check skips that ack's points.
      if (point.tripBookingId && rejected === 0)
        ledger.bookings.get(point.tripBookingId)?.ackedTripPoints.push({ seq: point.seq, at: Date.now() });
    }
    for (let i = this.ackWaiters.length - 1; i >= 0; i--) {
      if (this.ackWaiters[i]!.seq <= ackedSeq) this.ackWaiters.splice(i, 1)[0]!.resolve();
    }
  }

  private ackedUpTo(seq: number): Promise<void> {
    if (seq <= this.acked) return Promise.resolve();
    return new Promise((resolve) => this.ackWaiters.push({ seq, resolve }));
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
    if (this.drive && this.drive.points.length > 0) {
      fix = this.drive.points.shift()!;
      tripBookingId = this.tripBookingId;
      if (this.drive.points.length === 0) {
        const done = this.drive.done;
        this.drive = undefined;
        // The drive is over once this last fix is acknowledged.
        const seq = this.seq + 1;
        void this.ackedUpTo(seq).then(done);
      }
    } else {
      fix = { ...this.position, speedMps: 0, heading: 0 };
    }
    this.position = { lat: fix.lat, lng: fix.lng };
    this.seq += 1;
    const point: SentPoint = { seq: this.seq, fix, recordedAt: new Date(), tripBookingId };
    this.pending.push(point);
    ledger.pointsSent += 1;
    ledger.pointsMeter.add(1);
    if (this.stream && !this.reconnecting) this.write([point]);
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
        const read = await gateway.call(
          "GetBooking",
          (o) => gateway.bookings.getBooking({ bookingId }, o),
          this.session,
        );
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
    const waiting =
      this.ackWaiters.length > 0
        ? `, waiting for the ack of seq ${this.ackWaiters.map((w) => w.seq).join(",")} (acked ${this.acked}, sent ${this.seq}, ${this.pending.length} unacked, stream ${this.stream ? "open" : "closed"})`
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
      await gateway.call(
        "UpdateBookingStatus",
        (o) =>
          gateway.bookings.updateBookingStatus(
            { bookingId, status, location: this.position, ...(code ? { code } : {}) },
            o,
          ),
        this.session,
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
      const read = await gateway.call("GetBooking", (o) => gateway.bookings.getBooking({ bookingId }, o), this.session);
      return read.booking?.status === status;
    } catch {
      return false;
    }
  }

  close(): void {
    this.stream?.end();
    this.stream = undefined;
  }
}
