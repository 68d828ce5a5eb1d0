/**
 * SearchBookings: the bookings board across every customer. A phone is resolved to its customer
 * account at identity first (no account: no bookings, and booking is not asked); booking
 * filters and pages; each page's customers are named with one GetAccounts call. Identity not
 * answering then leaves the phone and name columns empty rather than the board.
 */
import type { BookingStatus } from "@weelo/contracts/grpc/weelo/booking/v1/booking";
import { Role } from "@weelo/contracts/grpc/weelo/common/v1/common";
import type { BookingRow } from "@weelo/contracts/grpc/weelo/ops/v1/ops";
import { isUuid, normalizeIndianPhone, plainText } from "@weelo/formats";
import type { OpsContext } from "./ops.context.js";

export interface BookingSearch {
  statuses: BookingStatus[];
  city: string;
  createdFrom?: Date | undefined;
  createdTo?: Date | undefined;
  customerPhone: string;
  bookingId: string;
  page?: { pageSize: number; pageToken: string } | undefined;
}

export function createBookingSearch(ctx: OpsContext) {
  const { accounts, bookings } = ctx.upstreams;

  /** Phone and name of each customer, by id; empty when identity does not answer. */
  async function customersOf(ids: readonly string[]) {
    const unique = [...new Set(ids.filter((id) => id !== ""))];
    if (unique.length === 0) return new Map<string, { phone: string; name: string }>();
    try {
      const { accounts: found } = await accounts.getAccounts({ userIds: unique });
      return new Map(found.map((a) => [a.user?.id ?? "", { phone: a.user?.phone ?? "", name: a.user?.name ?? "" }]));
    } catch (error) {
      ctx.logger.warn({ err: error }, "customers not named on the board: identity did not answer");
      return new Map<string, { phone: string; name: string }>();
    }
  }

  return {
    async searchBookings(query: BookingSearch): Promise<{ bookings: BookingRow[]; nextPageToken: string }> {
      const none = { bookings: [], nextPageToken: "" };
      const bookingId = query.bookingId.trim().toLowerCase();
      if (bookingId !== "" && !isUuid(bookingId)) return none;
      let customerIds: string[] = [];
      if (query.customerPhone.trim() !== "") {
        const phone = normalizeIndianPhone(query.customerPhone, "customer_phone");
        const { accounts: found } = await accounts.findAccountsByPhone({ phone });
        customerIds = found.filter((a) => a.user?.role === Role.ROLE_CUSTOMER).map((a) => a.user!.id);
        if (customerIds.length === 0) return none;
      }
      const page = await bookings.searchAllBookings({
        statuses: query.statuses,
        pickupCity: plainText(query.city, "city").trim(),
        createdFrom: query.createdFrom,
        createdTo: query.createdTo,
        customerIds,
        bookingId,
        page: query.page,
      });
      const customers = await customersOf(page.bookings.map((b) => b.customerId));
      return {
        bookings: page.bookings.map((booking) => ({
          booking,
          customerPhone: customers.get(booking.customerId)?.phone ?? "",
          customerName: customers.get(booking.customerId)?.name ?? "",
        })),
        nextPageToken: page.page?.nextPageToken ?? "",
      };
    },
  };
}
