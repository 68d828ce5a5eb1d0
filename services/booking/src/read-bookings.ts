/** GetBooking, ListBookings, GetOrder: what a customer, transporter or driver may read. */
import type { Principal } from "@weelo/auth";
import { NotFoundError } from "@weelo/errors";
import type { BookingContext, OrderView } from "./booking.context.js";
import * as repo from "./booking.repository.js";
import { decodePageToken, pageOf, pageSize, validateId, type Relation } from "./booking.rules.js";
import type { BookingRow, BookingStatus, HistoryRow } from "./booking.table.js";

export interface Page<T> {
  items: T[];
  nextPageToken: string;
}

export function createBookingReads(ctx: Pick<BookingContext, "db" | "visibleBooking" | "orderView">) {
  const { db, visibleBooking, orderView } = ctx;

  /** A booking its customer, transporter or driver may see, with its history. */
  async function getBooking(
    principal: Principal,
    bookingId: string,
  ): Promise<{ booking: BookingRow; relation: Relation; history: HistoryRow[] }> {
    const { booking, relation } = await visibleBooking(principal, bookingId);
    return { booking, relation, history: await repo.historyAfter(db, booking.id, 0) };
  }

  /** One page of the caller's bookings, newest first. */
  async function listBookings(
    principal: Principal,
    query: { pageSize: number; pageToken: string; status: BookingStatus | undefined },
  ): Promise<Page<BookingRow>> {
    const column =
      principal.role === "customer"
        ? "customer_id"
        : principal.role === "transporter"
          ? "transporter_id"
          : "driver_user_id";
    const limit = pageSize(query.pageSize);
    const rows = await repo.listBookings(db, {
      column,
      userId: principal.userId,
      status: query.status,
      afterId: decodePageToken(query.pageToken),
      limit: limit + 1,
    });
    return pageOf(rows, limit);
  }

  /** One of the customer's orders with its bookings. */
  async function getOrder(principal: Principal, orderId: string): Promise<OrderView> {
    const order = await repo.findOrder(db, validateId(orderId, "order_id"));
    if (!order || principal.role !== "customer" || order.customer_id !== principal.userId) {
      throw new NotFoundError("order not found", { reason: "ORDER_NOT_FOUND", field: "order_id" });
    }
    return orderView(order);
  }

  return { getBooking, listBookings, getOrder };
}
