/**
 * Booking's use cases: orders from quotes, the reads, cancellations, the driver's trip steps,
 * dispatch's steps, the watch stream and the scheduled broadcasts. They orchestrate rules, the
 * repository and the outbox; the gRPC handlers only translate to and from protobuf. One use case
 * (or one family) per file; this file composes them into the one service the module and the
 * handlers use. Every status change goes through booking-transition.ts.
 */
import { createBroadcastDue } from "./broadcast-due.js";
import { createBookingContext, type BookingDeps } from "./booking.context.js";
import { createTransitions } from "./booking-transition.js";
import { createCancelBooking } from "./cancel-booking.js";
import { createCreateBooking } from "./create-booking.js";
import { createDispatchSteps } from "./dispatch-steps.js";
import { createDriverSteps } from "./driver-steps.js";
import { createBookingReads } from "./read-bookings.js";
import { createWatchBooking } from "./watch-booking.js";

export type {
  ArrivalCheck,
  BookingDeps,
  OrderView,
  QuoteRedemption,
  RedeemedQuote,
} from "./booking.context.js";
export type { NewBooking } from "./create-booking.js";
export type { Assignment } from "./dispatch-steps.js";
export type { Page } from "./read-bookings.js";
export type { WatchEvent } from "./watch-booking.js";

export type BookingService = ReturnType<typeof createBookingService>;

export function createBookingService(deps: BookingDeps) {
  const ctx = createBookingContext(deps);
  const transitions = createTransitions(ctx);
  return {
    createBooking: createCreateBooking(ctx),
    ...createBookingReads(ctx),
    cancelBooking: createCancelBooking(ctx, transitions),
    updateStatus: createDriverSteps(ctx, transitions),
    ...createDispatchSteps(ctx, transitions),
    watch: createWatchBooking(ctx),
    broadcastDue: createBroadcastDue(ctx),
  };
}
