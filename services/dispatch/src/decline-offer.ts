/** DeclineOffer: a transporter says no to an open offer. */
import type { Principal } from "@weelo/auth";
import type { Offer } from "@weelo/contracts/grpc/weelo/dispatch/v1/dispatch";
import type { DispatchContext } from "./dispatch.context.js";
import { offerToProto } from "./dispatch.convert.js";
import { publishOffers } from "./dispatch.events.js";
import * as repo from "./dispatch.repository.js";
import { offerClosedRefusal, validateDeclineReason, validateId } from "./dispatch.rules.js";
import type { OfferReads } from "./offers.js";

export function createDeclineOffer(ctx: DispatchContext, offers: Pick<OfferReads, "ownOffer">) {
  const { db, bus, logger, metrics, now, root } = ctx;
  const { ownOffer } = offers;

  /** Says no to an open offer; the order is never offered to this transporter again. */
  async function declineOffer(principal: Principal, offerIdText: string, reasonText: string): Promise<Offer> {
    const offerId = validateId(offerIdText, "offer_id");
    const reason = validateDeclineReason(reasonText);
    const at = now();
    const known = await ownOffer(principal, offerId);
    const done = await db.transaction().execute(async (trx) => {
      const broadcast = await repo.updateBroadcast(trx, known.order_id, {}); // the order's lock first, and a new version
      const offer = await repo.answerOffer(trx, {
        offerId,
        transporterId: principal.userId,
        status: "declined",
        declineReason: reason,
        now: at,
      });
      return offer ? { offer, broadcast } : undefined;
    });
    if (!done) throw offerClosedRefusal((await ownOffer(principal, offerId)).status);
    metrics.offers.inc({ outcome: "declined" });
    const offer = offerToProto(done.offer, done.broadcast);
    publishOffers(bus, root, [offer]);
    logger.info({ offerId, orderId: done.offer.order_id, transporterId: principal.userId }, "offer declined");
    return offer;
  }

  return declineOffer;
}
