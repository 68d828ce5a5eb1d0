/**
 * GetBookingDetail: everything the console shows of one booking, read from its owners at once:
 * booking (the booking and its history: required, the call fails without them), dispatch (the
 * order's offers), tracking (the trip's path) and this service's audit trail; then identity names
 * the customer and the driver. A part whose owner does not answer is left empty and named in
 * `unavailable`, so one service down does not blank the page.
 */
import type { GetBookingDetailResponse } from "@weelo/contracts/grpc/weelo/ops/v1/ops_service";
import { NotFoundError } from "@weelo/errors";
import { validateId } from "@weelo/formats";
import type { OpsContext } from "./ops.context.js";
import { auditEntryToProto, personOf } from "./ops.convert.js";
import * as repo from "./ops.repository.js";

/** The audit entries shown with a booking (its newest). */
const AUDIT_SHOWN = 50;

export function createBookingDetail(ctx: OpsContext) {
  const { accounts, bookings, dispatch, tracking } = ctx.upstreams;

  return async function getBookingDetail(bookingIdInput: string): Promise<GetBookingDetailResponse> {
    const bookingId = validateId(bookingIdInput, "booking_id");
    const unavailable: string[] = [];
    /** A part that may be missing: its owner's failure is logged and named, not thrown. */
    const optional = <T>(part: string, read: Promise<T>, empty: T): Promise<T> =>
      read.catch((error: unknown) => {
        ctx.logger.warn({ err: error, bookingId, part }, "booking detail shown without a part");
        unavailable.push(part);
        return empty;
      });
    const [history, offers, path, audit] = await Promise.all([
      bookings.getBookingHistory({ bookingId }),
      optional("offers", dispatch.listBookingOffers({ bookingId }), { offers: [] }),
      optional("path", tracking.getBookingPath({ bookingId }), { points: [], distanceM: 0 }),
      optional("audit", repo.listAuditEntries(ctx.db, { targetId: bookingId, limit: AUDIT_SHOWN }), []),
    ]);
    const booking = history.booking;
    if (!booking) throw new NotFoundError("no such booking", { reason: "BOOKING_NOT_FOUND" });
    const ids = [booking.customerId, history.driverUserId].filter((id) => id !== "");
    const { accounts: people } = await optional("customer", accounts.getAccounts({ userIds: ids }), {
      accounts: [],
    });
    if (unavailable.at(-1) === "customer" && history.driverUserId !== "") unavailable.push("driver");
    const customer = people.find((a) => a.user?.id === booking.customerId);
    const driver = history.driverUserId ? people.find((a) => a.user?.id === history.driverUserId) : undefined;
    return {
      row: { booking, customerPhone: customer?.user?.phone ?? "", customerName: customer?.user?.name ?? "" },
      history: history.history,
      offers: offers.offers,
      driver: driver ? personOf(driver) : undefined,
      path: path.points,
      pathDistanceM: path.distanceM,
      audit: audit.map(auditEntryToProto),
      unavailable,
    };
  };
}
