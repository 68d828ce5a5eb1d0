/**
 * Operations' reads of dispatch (DispatchOpsService, called by the ops service only): a booking's
 * offers, the hourly funnel, and the transporters holding open offers now.
 */
import type { Offer } from "@weelo/contracts/grpc/weelo/dispatch/v1/dispatch";
import type { DispatchContext } from "./dispatch.context.js";
import { offerToProto } from "./dispatch.convert.js";
import * as repo from "./dispatch.repository.js";
import { funnelWindow, validateId } from "./dispatch.rules.js";
import { dispatchFunnel, offersOfOrder, transportersWithOpenOffers, type DispatchFunnelRow } from "./ops.repository.js";

export function createOpsReads(ctx: Pick<DispatchContext, "db">) {
  const { db } = ctx;

  /** Every offer of the booking's order, oldest first; none when dispatch never saw the booking. */
  async function bookingOffers(bookingId: string): Promise<Offer[]> {
    const booking = await repo.findBooking(db, validateId(bookingId, "booking_id"));
    if (!booking) return [];
    return (await offersOfOrder(db, booking.order_id)).map((row) => offerToProto(row, row));
  }

  async function funnel(from: Date, to: Date): Promise<DispatchFunnelRow[]> {
    const window = funnelWindow(from, to);
    return dispatchFunnel(db, window.from, window.to);
  }

  return { bookingOffers, funnel, offeredTransporters: () => transportersWithOpenOffers(db) };
}
