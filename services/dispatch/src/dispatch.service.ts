/**
 * Dispatch's use cases: broadcasts of orders in waves, offers, the atomic acceptance, driver
 * assignment with its deadline, the booking calls dispatch owes (confirm, assign, reopen,
 * expire, reassign), and operations' reads, reopen and reassignment. They orchestrate rules, the repository, the outbox and the upstream services; the
 * gRPC handlers only translate to and from protobuf. One use case (or one family) per file;
 * this file composes them into the one service the module and handlers use.
 *
 * Every timer lives in Postgres (broadcasts.next_wave_at, bookings.assign_by and
 * bookings.booking_call_due_at) and is claimed by one conditional statement, so a timer survives a
 * restart and fires once however many replicas run. A booking call is recorded as owed in the
 * same transaction as the change that needs it, made at once, and retried by the poller until
 * booking answers: a crash between the claim and the call loses nothing.
 */
import { createAcceptOffer } from "./accept-offer.js";
import { createAssignDriver } from "./assign-driver.js";
import { createBookingCalls } from "./booking-calls.js";
import { createBookingEvents } from "./booking-events.js";
import { createDeclineOffer } from "./decline-offer.js";
import { createDispatchContext, type DispatchDeps } from "./dispatch.context.js";
import { createOfferReads } from "./offers.js";
import { createOpsReads } from "./ops-reads.js";
import { createReassignDriver } from "./reassign-driver.js";
import { createReopenByOps } from "./reopen-by-ops.js";
import { createWatchOffers } from "./watch-offers.js";
import { createWaves } from "./waves.js";

export type { DispatchDeps, DispatchSettings } from "./dispatch.context.js";

export type DispatchService = ReturnType<typeof createDispatchService>;

export function createDispatchService(deps: DispatchDeps) {
  const ctx = createDispatchContext(deps);
  const calls = createBookingCalls(ctx);
  const waves = createWaves(ctx, calls);
  const bookingEvents = createBookingEvents(ctx, waves);
  const offers = createOfferReads(ctx);

  return {
    ...bookingEvents,
    runDueWaves: waves.runDueWaves,
    runDueBookingCalls: calls.runDueBookingCalls,
    runMissedDeadlines: calls.runMissedDeadlines,
    listOffers: offers.listOffers,
    acceptOffer: createAcceptOffer(ctx, offers, calls),
    declineOffer: createDeclineOffer(ctx, offers),
    assignDriver: createAssignDriver(ctx, calls),
    watchOffers: createWatchOffers(ctx, offers),
    // Operations (DispatchOpsService).
    ...createOpsReads(ctx),
    reopenByOps: createReopenByOps(ctx, calls),
    reassignDriver: createReassignDriver(ctx, calls),
  };
}
