/**
 * Operations' reads (BookingOpsService, called by the ops service only): the search across every
 * customer's bookings, newest first in keyset pages, and one booking with its whole history.
 */
import { InvalidArgumentError } from "@weelo/errors";
import type { BookingContext } from "./booking.context.js";
import * as repo from "./booking.repository.js";
import { searchBookings } from "./booking-ops.repository.js";
import { decodePageToken, pageOf, pageSize, validateId, validateText } from "./booking.rules.js";
import type { BookingRow, BookingStatus, HistoryRow } from "./booking.table.js";
import type { Page } from "./read-bookings.js";

export interface SearchFilter {
  statuses: BookingStatus[];
  pickupCity: string;
  createdFrom: Date | undefined;
  createdTo: Date | undefined;
  customerIds: string[];
  bookingId: string;
  pageSize: number;
  pageToken: string;
}

export function createSearchAllBookings(ctx: Pick<BookingContext, "db" | "dispatchBooking">) {
  const { db, dispatchBooking } = ctx;

  /** One page of every customer's bookings that match, newest first. */
  async function searchAllBookings(filter: SearchFilter): Promise<Page<BookingRow>> {
    if (filter.createdFrom && filter.createdTo && filter.createdFrom.getTime() >= filter.createdTo.getTime())
      throw new InvalidArgumentError("created_to", "created_to must be after created_from");
    const limit = pageSize(filter.pageSize);
    const rows = await searchBookings(db, {
      statuses: [...new Set(filter.statuses)],
      pickupCity: validateText(filter.pickupCity, "pickup_city").toLowerCase(),
      createdFrom: filter.createdFrom,
      createdTo: filter.createdTo,
      customerIds: filter.customerIds.map((id, i) => validateId(id, `customer_ids[${i}]`)),
      bookingId: filter.bookingId === "" ? undefined : validateId(filter.bookingId, "booking_id"),
      afterId: decodePageToken(filter.pageToken, "page.page_token"),
      limit: limit + 1,
    });
    return pageOf(rows, limit);
  }

  /** One booking (NOT_FOUND when unknown) with every change, oldest first. */
  async function bookingHistory(bookingId: string): Promise<{ booking: BookingRow; history: HistoryRow[] }> {
    const booking = await dispatchBooking(bookingId);
    return { booking, history: await repo.historyAfter(db, booking.id, 0) };
  }

  return { searchAllBookings, bookingHistory };
}
