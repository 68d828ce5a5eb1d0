/**
 * Reading offers: the caller's own offer (NOT_FOUND for anyone else's), offers as the client
 * sees them, and ListOffers' pages.
 */
import type { Principal } from "@weelo/auth";
import type { Offer } from "@weelo/contracts/grpc/weelo/dispatch/v1/dispatch";
import { NotFoundError } from "@weelo/errors";
import type { DispatchContext } from "./dispatch.context.js";
import { offerToProto } from "./dispatch.convert.js";
import * as repo from "./dispatch.repository.js";
import { decodePageToken, pageOf, pageSize } from "./dispatch.rules.js";
import type { OfferRow, OfferStatus } from "./dispatch.table.js";

const offerNotFound = () => new NotFoundError("offer not found", { reason: "OFFER_NOT_FOUND", field: "offer_id" });

export type OfferReads = ReturnType<typeof createOfferReads>;

export function createOfferReads(ctx: DispatchContext) {
  const { db } = ctx;

  async function offerViews(ids: string[]): Promise<Map<string, Offer>> {
    const rows = await repo.findOfferViews(db, ids);
    return new Map(rows.map((r) => [r.id, offerToProto(r, r)]));
  }

  /** The caller's offer; NOT_FOUND for a missing offer and for someone else's alike. */
  async function ownOffer(principal: Principal, offerId: string): Promise<OfferRow> {
    const offer = await repo.findOffer(db, offerId);
    if (!offer || offer.transporter_id !== principal.userId) throw offerNotFound();
    return offer;
  }

  /** A page of the transporter's offers in a status (open by default), newest first. */
  async function listOffers(
    principal: Principal,
    query: { status: OfferStatus; pageSize: number; pageToken: string },
  ): Promise<{ offers: Offer[]; nextPageToken: string }> {
    const limit = pageSize(query.pageSize);
    const rows = await repo.listOffers(db, {
      transporterId: principal.userId,
      status: query.status,
      afterId: decodePageToken(query.pageToken),
      limit: limit + 1,
    });
    const { items, nextPageToken } = pageOf(rows, limit);
    return { offers: items.map((r) => offerToProto(r, r)), nextPageToken };
  }

  return { offerViews, ownOffer, listOffers };
}
