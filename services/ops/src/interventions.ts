/**
 * The interventions (cancel, reopen, reassign, block, unblock): each names its target, how its
 * owner reads and changes it, and runs audited (audited.ts). The owners are idempotent: cancelling
 * a cancelled booking, reopening a pending one, blocking a blocked account change nothing.
 */
import { Booking } from "@weelo/contracts/grpc/weelo/booking/v1/booking";
import type { Person } from "@weelo/contracts/grpc/weelo/ops/v1/ops";
import { NotFoundError } from "@weelo/errors";
import { validateId } from "@weelo/formats";
import type { Audited } from "./audited.js";
import type { Actor, OpsContext } from "./ops.context.js";
import { personJson, personOf } from "./ops.convert.js";

export interface InterventionRequest {
  reason: string;
  idempotencyKey: string;
}

export function createInterventions(ctx: OpsContext, audited: Audited) {
  const { bookings, dispatch, accounts } = ctx.upstreams;

  const bookingNow = async (bookingId: string): Promise<Booking> => {
    const { booking } = await bookings.getBookingHistory({ bookingId });
    if (!booking) throw new NotFoundError("no such booking", { reason: "BOOKING_NOT_FOUND" });
    return booking;
  };
  const bookingJson = (booking: Booking): unknown => Booking.toJSON(booking);

  const accountNow = async (userId: string): Promise<Person> => {
    const { accounts: found } = await accounts.getAccounts({ userIds: [userId] });
    if (!found[0]) throw new NotFoundError("no such user", { reason: "USER_NOT_FOUND" });
    return personOf(found[0]);
  };

  return {
    async cancelBooking(actor: Actor, request: InterventionRequest & { bookingId: string }) {
      const bookingId = validateId(request.bookingId, "booking_id");
      const { target, entry } = await audited(actor, {
        action: "cancel_booking",
        targetId: bookingId,
        reason: request.reason,
        idempotencyKey: request.idempotencyKey,
        read: () => bookingNow(bookingId),
        toJson: bookingJson,
        act: (reason) => bookings.cancelBookingByOps({ bookingId, opsUserId: actor.userId, reason }),
        targetOf: (result) => result.booking,
      });
      return { booking: target, auditId: entry.id };
    },

    async reopenBooking(actor: Actor, request: InterventionRequest & { bookingId: string }) {
      const bookingId = validateId(request.bookingId, "booking_id");
      const { target, entry } = await audited(actor, {
        action: "reopen_booking",
        targetId: bookingId,
        reason: request.reason,
        idempotencyKey: request.idempotencyKey,
        read: () => bookingNow(bookingId),
        toJson: bookingJson,
        act: (reason) => dispatch.reopenBookingByOps({ bookingId, opsUserId: actor.userId, reason }),
      });
      return { booking: target, auditId: entry.id };
    },

    async reassignDriver(
      actor: Actor,
      request: InterventionRequest & { bookingId: string; driverId: string; vehicleId: string },
    ) {
      const bookingId = validateId(request.bookingId, "booking_id");
      const driverId = validateId(request.driverId, "driver_id");
      const vehicleId = validateId(request.vehicleId, "vehicle_id");
      const { target, entry } = await audited(actor, {
        action: "reassign_driver",
        targetId: bookingId,
        reason: request.reason,
        args: [driverId, vehicleId],
        idempotencyKey: request.idempotencyKey,
        read: () => bookingNow(bookingId),
        toJson: bookingJson,
        act: (reason) => dispatch.reassignDriver({ bookingId, driverId, vehicleId, opsUserId: actor.userId, reason }),
      });
      return { booking: target, auditId: entry.id };
    },

    /** Blocks an account; identity revokes its sessions at once. A replay reports 0 sessions (the first call revoked them). */
    async blockUser(actor: Actor, request: InterventionRequest & { userId: string }) {
      const userId = validateId(request.userId, "user_id");
      const { result, target, entry } = await audited(actor, {
        action: "block_user",
        targetId: userId,
        reason: request.reason,
        idempotencyKey: request.idempotencyKey,
        read: () => accountNow(userId),
        toJson: personJson,
        act: (reason) => accounts.blockUser({ userId, reason }),
      });
      return { user: target, sessionsRevoked: result?.sessionsRevoked ?? 0, auditId: entry.id };
    },

    /** Unblocks an account; `unblocked` is false when it was not blocked (on a replay: as the first call found it). */
    async unblockUser(actor: Actor, request: InterventionRequest & { userId: string }) {
      const userId = validateId(request.userId, "user_id");
      const { result, target, entry } = await audited(actor, {
        action: "unblock_user",
        targetId: userId,
        reason: request.reason,
        idempotencyKey: request.idempotencyKey,
        read: () => accountNow(userId),
        toJson: personJson,
        act: (reason) => accounts.unblockUser({ userId, reason }),
      });
      const wasBlocked = Boolean((entry.before as { blockedAt?: unknown } | null)?.blockedAt);
      return { user: target, unblocked: result?.unblocked ?? wasBlocked, auditId: entry.id };
    },
  };
}
