/**
 * GetFunnel: the dispatch funnel per hour, booking's counts (orders, bookings, assigned,
 * completed, expired, cancelled) and dispatch's (waves, offers, accepted, offers expired) asked
 * at once and merged hour by hour; the window defaults to the last 24 hours, at most 7 days.
 */
import type { FunnelHour } from "@weelo/contracts/grpc/weelo/ops/v1/ops";
import type { OpsContext } from "./ops.context.js";
import { funnelWindow, mergeFunnel } from "./ops.rules.js";

export function createFunnel(ctx: OpsContext) {
  const { bookings, dispatch } = ctx.upstreams;
  return async function getFunnel(from: Date | undefined, to: Date | undefined): Promise<FunnelHour[]> {
    const window = funnelWindow(from, to, ctx.now());
    const [bookingSide, dispatchSide] = await Promise.all([
      bookings.getBookingFunnel(window),
      dispatch.getDispatchFunnel(window),
    ]);
    return mergeFunnel(window, bookingSide.hours, dispatchSide.hours);
  };
}
