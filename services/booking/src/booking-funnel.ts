/** GetBookingFunnel: per hour of a window (whole UTC hours, at most 7 days), what happened to bookings. */
import { InvalidArgumentError } from "@weelo/errors";
import type { BookingContext } from "./booking.context.js";
import { bookingFunnel, type FunnelRow } from "./booking-ops.repository.js";

const HOUR_MS = 3_600_000;
/** The longest window, in hours (7 days). */
export const MAX_FUNNEL_HOURS = 7 * 24;

/** The window as whole hours: `from` rounded down, `to` rounded up; INVALID_ARGUMENT when empty or too long. */
export function funnelWindow(from: Date, to: Date): { from: Date; to: Date } {
  const start = Math.floor(from.getTime() / HOUR_MS) * HOUR_MS;
  const end = Math.ceil(to.getTime() / HOUR_MS) * HOUR_MS;
  if (!(end > start)) throw new InvalidArgumentError("to", "to must be after from");
  if (end - start > MAX_FUNNEL_HOURS * HOUR_MS)
    throw new InvalidArgumentError("to", `the window is at most ${MAX_FUNNEL_HOURS / 24} days`);
  return { from: new Date(start), to: new Date(end) };
}

export function createBookingFunnel(ctx: Pick<BookingContext, "db">) {
  return async function getBookingFunnel(from: Date, to: Date): Promise<FunnelRow[]> {
    const window = funnelWindow(from, to);
    return bookingFunnel(ctx.db, window.from, window.to);
  };
}
