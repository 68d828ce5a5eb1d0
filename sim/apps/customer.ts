import { BookingStatus } from "@weelo/contracts/es/weelo/booking/v1/booking_pb";
import { describe, isTransient, reasonOf, type Session } from "../api.js";
import type { Status } from "../invariants.js";
import type { OrderRecord } from "../ledger.js";
import { planOrder, phoneFor } from "../plan.js";
import { address, pause, statusName, type World } from "./world.js";
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
