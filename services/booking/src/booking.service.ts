/**
 * Booking's use cases: orders from quotes, the reads, cancellations, the driver's trip steps,
 * dispatch's steps, operations' reads and interventions, the watch stream and the scheduled
 * broadcasts. They orchestrate rules, the
 * repository and the outbox; the gRPC handlers only translate to and from protobuf. One use case
 * (or one family) per file; this file composes them into the one service the module and the
 * handlers use. Every status change goes through booking-transition.ts.
 */
import { createBookingFunnel } from "./booking-funnel.js";
import { createBroadcastDue } from "./broadcast-due.js";
import { createBookingContext, type BookingDeps } from "./booking.context.js";
import { createTransitions } from "./booking-transition.js";
import { createCancelBooking } from "./cancel-booking.js";
import { createCancelByOps } from "./cancel-by-ops.js";
import { createCreateBooking } from "./create-booking.js";
import { createDispatchSteps } from "./dispatch-steps.js";
import { createDriverSteps } from "./driver-steps.js";
import { createBookingReads } from "./read-bookings.js";
import { createReassignBooking } from "./reassign-booking.js";
import { createSearchAllBookings } from "./search-all-bookings.js";
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
export type { Reassigned, Reassignment } from "./reassign-booking.js";
export type { SearchFilter } from "./search-all-bookings.js";
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
    reassignBooking: createReassignBooking(ctx, transitions),
    ...createSearchAllBookings(ctx),
    cancelByOps: createCancelByOps(ctx, transitions),
    bookingFunnel: createBookingFunnel(ctx),
    watch: createWatchBooking(ctx),
    broadcastDue: createBroadcastDue(ctx),
  };
}
