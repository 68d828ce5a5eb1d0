/** WatchOffers: a transporter's open offers, then every change to them as it happens. */
import type { Principal } from "@weelo/auth";
import { OfferNotice, type Offer } from "@weelo/contracts/grpc/weelo/dispatch/v1/dispatch";
import type { WatchOffersResponse } from "@weelo/contracts/grpc/weelo/dispatch/v1/dispatch_service";
import type { DispatchContext } from "./dispatch.context.js";
import { offerToProto } from "./dispatch.convert.js";
import { liveSubject } from "./dispatch.events.js";
import * as repo from "./dispatch.repository.js";
import type { OfferReads } from "./offers.js";
import { Wakeable } from "@weelo/runtime/polling";

/** Open offers sent when a WatchOffers stream starts or resyncs, at most. */
const WATCH_SNAPSHOT_LIMIT = 500;
/** Live notices a WatchOffers stream buffers before it drops them and re-reads the database instead. */
const WATCH_MAX_QUEUED = 512;

export function createWatchOffers(ctx: DispatchContext, offers: Pick<OfferReads, "offerViews">) {
  const { db, bus, presence, settings, root, closing } = ctx;
  const { offerViews } = offers;

  /**
   * The transporter's open offers, then every change as it happens. Subscribes to the live
   * subject before reading the database, so nothing falls between; each offer carries the
   * order's version, so a late or repeated notice never overwrites a newer state; and every
   * WATCH_RESYNC_MS (or when notices pile up) the open offers are read again, so a notice
   * lost in a crash is made up for.
   */
  async function* watchOffers(principal: Principal, callSignal: AbortSignal): AsyncGenerator<WatchOffersResponse> {
    const me = principal.userId;
    const signal = closing ? AbortSignal.any([callSignal, closing]) : callSignal;
    const queue: Offer[] = [];
    let overflow = false;
    const waker = new Wakeable();
    const subscription = bus.subscribe(liveSubject(root, me), (msg) => {
      let offer: Offer | undefined;
      try {
        offer = OfferNotice.decode(msg.data).offer;
      } catch {
        return;
      }
      if (!offer) return;
      if (queue.length >= WATCH_MAX_QUEUED) overflow = true;
      else queue.push(offer);
      waker.wake();
    });
    await presence.enter(me);
    const sent = new Map<string, { version: number; open: boolean }>();
    /** What the client should see of an offer copy: newer than what it has, and a change it cares about. */
    const response = (offer: Offer): WatchOffersResponse | undefined => {
      const known = sent.get(offer.id);
      if (known && offer.version < known.version) return undefined;
      const open = offer.status === 1; // OFFER_STATUS_OPEN
      if (known && offer.version === known.version && open === known.open) return undefined;
      sent.set(offer.id, { version: offer.version, open });
      if (open) return { kind: { $case: "offer", value: offer } };
      return known?.open ? { kind: { $case: "closed", value: offer } } : undefined;
    };
    const readOpen = async () =>
      (
        await repo.listOffers(db, {
          transporterId: me,
          status: "open",
          afterId: undefined,
          limit: WATCH_SNAPSHOT_LIMIT,
        })
      ).map((r) => offerToProto(r, r));
    try {
      const first = await readOpen();
      for (const offer of first.reverse()) {
        const message = response(offer);
        if (message) yield message;
      }
      yield { kind: { $case: "caughtUp", value: { openOffers: first.length } } };
      // The first re-read comes at a random point of the interval, so streams opened together
      // (a replica restarting, a city's apps reconnecting) do not all read at the same moment.
      let lastRead = Date.now() - Math.floor(Math.random() * settings.watchResyncMs);
      while (!signal.aborted) {
        while (queue.length > 0 && !signal.aborted) {
          const message = response(queue.shift()!);
          if (message) yield message;
        }
        if (overflow || Date.now() - lastRead >= settings.watchResyncMs) {
          overflow = false;
          queue.length = 0;
          lastRead = Date.now();
          const open = await readOpen();
          const openIds = new Set(open.map((o) => o.id));
          const gone = [...sent].filter(([id, s]) => s.open && !openIds.has(id)).map(([id]) => id);
          const closed = await offerViews(gone);
          for (const id of gone) {
            const offer = closed.get(id);
            if (!offer) continue;
            sent.set(id, { version: offer.version, open: false });
            yield { kind: { $case: "closed", value: offer } };
          }
          for (const offer of open.reverse()) {
            const message = response(offer);
            if (message) yield message;
          }
          continue;
        }
        if (queue.length > 0) continue;
        await waker.pause(Math.max(10, settings.watchResyncMs - (Date.now() - lastRead)), signal);
      }
    } finally {
      subscription.unsubscribe();
      await presence.leave(me);
    }
  }

  return watchOffers;
}
