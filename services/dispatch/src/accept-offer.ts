/**
 * AcceptOffer: the atomic acceptance of some of an offered order's trucks, and the repeated
 * answer to a retry whose first answer was lost.
 */
import type { Principal } from "@weelo/auth";
import type { Offer } from "@weelo/contracts/grpc/weelo/dispatch/v1/dispatch";
import { FailedPreconditionError, InternalError } from "@weelo/errors";
import type { BookingCalls } from "./booking-calls.js";
import type { DispatchContext } from "./dispatch.context.js";
import { offerToProto } from "./dispatch.convert.js";
import { publishOffers, recordOfferAccepted, recordOffersWithdrawn } from "./dispatch.events.js";
import * as repo from "./dispatch.repository.js";
import { acceptRefusal, offerClosedRefusal, validateId } from "./dispatch.rules.js";
import type { OfferRow } from "./dispatch.table.js";
import type { OfferReads } from "./offers.js";

/** Thrown inside an acceptance's transaction to roll it back when the trucks were gone. */
class TrucksGone extends Error {}
/** Thrown inside an acceptance's transaction to roll it back when the offer was answered meanwhile. */
class OfferAnswered extends Error {}

export function createAcceptOffer(
  ctx: DispatchContext,
  offers: Pick<OfferReads, "offerViews" | "ownOffer">,
  calls: Pick<BookingCalls, "makeBookingCallQuietly">,
) {
  const { db, bus, events, settings, logger, metrics, now, later, root, offersOf } = ctx;
  const { offerViews, ownOffer } = offers;
  const { makeBookingCallQuietly } = calls;

  /**
   * An AcceptOffer of an offer the caller accepted already, for as many trucks: a retry whose
   * first answer was lost gets that answer again (the bookings and their deadline). Anything
   * else about a closed offer is refused with what happened to it.
   */
  async function answerAgain(
    principal: Principal,
    offer: OfferRow,
    count: number,
  ): Promise<{ offer: Offer; bookingIds: string[]; assignBy: Date }> {
    if (offer.status === "accepted" && offer.accepted_count === count) {
      const bookings = await repo.bookingsOfOffer(db, offer.id, principal.userId);
      const view = (await offerViews([offer.id])).get(offer.id);
      const assignBy = bookings.find((b) => b.assign_by)?.assign_by;
      if (view && bookings.length > 0 && assignBy) {
        metrics.accepts.inc({ result: "repeated" });
        return { offer: view, bookingIds: bookings.map((b) => b.booking_id), assignBy };
      }
    }
    metrics.accepts.inc({ result: "refused" });
    if (offer.status === "accepted") {
      throw new FailedPreconditionError(
        `you already accepted this offer for ${offer.accepted_count} truck${offer.accepted_count === 1 ? "" : "s"}`,
        { reason: "OFFER_ALREADY_ACCEPTED" },
      );
    }
    throw offerClosedRefusal(offer.status);
  }

  /**
   * Takes `count` trucks of an offered order. One transaction: the offer answered (open →
   * accepted, the caller's only), the trucks taken by one conditional UPDATE (open_trucks ≥
   * count), that many open bookings handed over with ConfirmBooking owed, the other offers
   * withdrawn when nothing is left, and the events. Then the confirmations are made (and
   * retried by the poller if booking does not answer).
   */
  async function acceptOffer(
    principal: Principal,
    offerIdText: string,
    countRequested: number,
  ): Promise<{ offer: Offer; bookingIds: string[]; assignBy: Date }> {
    const offerId = validateId(offerIdText, "offer_id");
    const count = countRequested; // 1 to 20: the contract's rule, checked before the handler
    const at = now();
    const assignBy = later(settings.assignDeadlineMs, at);
    // Learn the order first: every transaction that changes an order's offers or bookings
    // locks its broadcast row first, so concurrent acceptances queue there instead of deadlocking.
    const known = await ownOffer(principal, offerId);
    if (known.status !== "open") return answerAgain(principal, known, count);
    let taken;
    try {
      taken = await db.transaction().execute(async (trx) => {
        const broadcast = await repo.takeTrucks(trx, known.order_id, count);
        if (!broadcast) throw new TrucksGone(known.order_id);
        const offer = await repo.answerOffer(trx, {
          offerId,
          transporterId: principal.userId,
          status: "accepted",
          acceptedCount: count,
          now: at,
        });
        if (!offer) throw new OfferAnswered();
        const bookings = await repo.claimOpenBookings(trx, {
          orderId: offer.order_id,
          count,
          transporterId: principal.userId,
          offerId,
          now: at,
          assignBy,
          bookingCallDueAt: later(settings.leaseMs, at),
        });
        if (bookings.length !== count)
          throw new InternalError("the order's open bookings do not match its open trucks");
        bookings.sort((a, b) => (a.booking_id < b.booking_id ? -1 : 1)); // the order a repeated answer gives them in
        const withdrawn =
          broadcast.status === "filled"
            ? await repo.closeOpenOffers(trx, offer.order_id, "withdrawn", "filled", at)
            : [];
        await recordOffersWithdrawn(trx, root, withdrawn, "filled", at);
        const bookingIds = bookings.map((b) => b.booking_id);
        await recordOfferAccepted(trx, root, offer, { bookingIds, openAfter: broadcast.open_trucks, assignBy, at });
        const stillOpen = broadcast.status === "open" ? await repo.openOffersOfOrder(trx, offer.order_id) : [];
        return { offer, broadcast, bookings, withdrawn, stillOpen };
      });
    } catch (error) {
      if (!(error instanceof OfferAnswered) && !(error instanceof TrucksGone)) throw error;
      // Answered meanwhile, perhaps by this same request sent twice: the first took the trucks,
      // this one waited behind it.
      const current = await ownOffer(principal, offerId);
      if (error instanceof OfferAnswered || current.status === "accepted")
        return answerAgain(principal, current, count);
      metrics.accepts.inc({ result: "taken" });
      throw acceptRefusal(await repo.findBroadcast(db, error.message), count);
    }
    events.committed();
    metrics.accepts.inc({ result: "won" });
    metrics.offers.inc({ outcome: "accepted" });
    if (taken.withdrawn.length > 0) metrics.offers.inc({ outcome: "withdrawn" }, taken.withdrawn.length);
    publishOffers(bus, root, offersOf([taken.offer, ...taken.withdrawn, ...taken.stillOpen], taken.broadcast));
    logger.info(
      {
        orderId: taken.offer.order_id,
        transporterId: principal.userId,
        trucks: count,
        openTrucks: taken.broadcast.open_trucks,
        bookings: taken.bookings.map((b) => b.booking_id),
      },
      "offer accepted",
    );
    await Promise.all(taken.bookings.map(makeBookingCallQuietly));
    return {
      offer: offerToProto(taken.offer, taken.broadcast),
      bookingIds: taken.bookings.map((b) => b.booking_id),
      assignBy,
    };
  }

  return acceptOffer;
}
