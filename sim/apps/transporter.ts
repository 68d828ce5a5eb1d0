/** The transporter app: sets up its fleet, watches offers, accepts or declines, assigns drivers. */
import { randomUUID } from "node:crypto";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { BookingStatus } from "@weelo/contracts/es/weelo/booking/v1/booking_pb";
import { OfferStatus, type Offer } from "@weelo/contracts/es/weelo/dispatch/v1/dispatch_pb";
import { describe, isTransient, reasonOf, type Session } from "../api.js";
import { chooseTrucks, declines, registrationFor, phoneFor, runTag, type TransporterPlan } from "../plan.js";
import { DriverApp } from "./driver.js";
import { pause, type World } from "./world.js";
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
