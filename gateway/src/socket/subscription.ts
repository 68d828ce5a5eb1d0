/**
 * One booking a /socket client follows: booking's WatchBooking with the user's own token (the
 * service authorizes it), and, while a truck is on the road, tracking's WatchLocation, retried
 * a few times while tracking has not heard of the trip yet.
 */
import { create, toJson, type JsonObject } from "@bufbuild/protobuf";
import { BookingStatus } from "@weelo/contracts/es/weelo/booking/v1/booking_pb";
import {
  BookingService,
  WatchBookingRequestSchema,
  type WatchBookingResponse,
} from "@weelo/contracts/es/weelo/booking/v1/booking_service_pb";
import {
  TrackingService,
  WatchLocationRequestSchema,
  type WatchLocationResponse,
} from "@weelo/contracts/es/weelo/tracking/v1/tracking_service_pb";
import { DomainError } from "@weelo/errors";
import { toErrorFrame } from "./protocol.js";
import type { Session } from "./session.js";

/** Statuses during which the booking has a truck on the road to follow. */
const TRIP_STATUSES = new Set<BookingStatus>([
  BookingStatus.ASSIGNED,
  BookingStatus.DRIVER_EN_ROUTE,
  BookingStatus.AT_PICKUP,
  BookingStatus.IN_TRANSIT,
  BookingStatus.AT_DROPOFF,
]);
const watchBooking = BookingService.method.watchBooking;
const watchLocation = TrackingService.method.watchLocation;
/** Retries of a location feed the tracking service does not know yet (its trip record may trail the booking's event). */
const LOCATION_RETRY_DELAYS_MS = [250, 500, 1000, 2000, 4000, 8000];

export /** One followed booking: its status feed and, while a truck is on the road, its location feed. */
class Subscription {
  private readonly abort = new AbortController();
  private location: AbortController | undefined;
  private locationAttempt = 0;
  private locationTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly session: Session,
    private readonly bookingId: string,
    private readonly afterSequence: bigint,
  ) {}

  start(): void {
    void this.followStatus();
  }

  cancel(): void {
    this.abort.abort();
    this.stopLocation();
  }

  private forward() {
    return {
      authorization: this.session.authorization,
      requestId: this.session.requestId,
      clientIp: this.session.clientIp,
    };
  }

  private async followStatus(): Promise<void> {
    const { bookingId } = this;
    const request = create(WatchBookingRequestSchema, { bookingId, afterSequence: this.afterSequence });
    try {
      const stream: AsyncIterable<WatchBookingResponse> = this.session.deps.forwarder.call(
        BookingService,
        watchBooking,
        request,
        this.forward(),
        undefined,
        this.abort.signal,
      );
      for await (const message of stream) {
        if (this.abort.signal.aborted) return;
        const status = message.booking ? message.booking.status : message.change?.to;
        if (message.booking) {
          this.session.send({
            type: "subscribed",
            bookingId,
            sequence: message.sequence.toString(),
            booking: (toJson(watchBooking.output, message) as JsonObject).booking,
          });
        } else {
          this.session.send({
            type: "status",
            bookingId,
            sequence: message.sequence.toString(),
            change: (toJson(watchBooking.output, message) as JsonObject).change,
          });
        }
        if (status !== undefined) this.onStatus(status);
      }
      if (!this.abort.signal.aborted)
        this.fail("status", new DomainError(14, "the booking feed ended; subscribe again", { reason: "FEED_ENDED" }));
    } catch (error) {
      if (!this.abort.signal.aborted) this.fail("status", error);
    }
  }

  private onStatus(status: BookingStatus): void {
    // Drivers are the source of the positions: they follow status only.
    if (this.session.user?.role === "driver") return;
    if (TRIP_STATUSES.has(status)) {
      if (!this.location) {
        this.locationAttempt = 0;
        this.followLocation();
      }
    } else {
      this.stopLocation();
    }
  }

  private followLocation(): void {
    const controller = new AbortController();
    this.location = controller;
    const request = create(WatchLocationRequestSchema, { bookingId: this.bookingId });
    void (async () => {
      try {
        const stream: AsyncIterable<WatchLocationResponse> = this.session.deps.forwarder.call(
          TrackingService,
          watchLocation,
          request,
          this.forward(),
          undefined,
          controller.signal,
        );
        for await (const message of stream) {
          if (controller.signal.aborted) return;
          this.locationAttempt = 0;
          this.session.send({
            type: "location",
            bookingId: this.bookingId,
            position: (toJson(watchLocation.output, message) as JsonObject).position,
          });
        }
        if (!controller.signal.aborted) this.retryLocation(undefined);
      } catch (error) {
        if (!controller.signal.aborted) this.retryLocation(error);
      }
    })();
  }

  /** The tracking service may learn of the trip a moment after booking: retry a few times before reporting. */
  private retryLocation(error: unknown): void {
    const delay = LOCATION_RETRY_DELAYS_MS[this.locationAttempt];
    const retryable = error === undefined || (error instanceof DomainError && (error.code === 5 || error.code === 14));
    if (delay === undefined || !retryable) {
      this.location = undefined;
      this.fail("location", error ?? new DomainError(14, "the location feed ended", { reason: "FEED_ENDED" }));
      return;
    }
    this.locationAttempt += 1;
    this.locationTimer = setTimeout(() => {
      if (this.location && !this.location.signal.aborted && !this.abort.signal.aborted) this.followLocation();
    }, delay);
    this.locationTimer.unref();
  }

  private stopLocation(): void {
    clearTimeout(this.locationTimer);
    this.location?.abort();
    this.location = undefined;
  }

  /** Reports a failed feed; a failed status feed ends the subscription (the app may subscribe again). */
  private fail(channel: "status" | "location", error: unknown): void {
    if (!(error instanceof DomainError)) this.session.logger.error({ err: error, channel }, "a /socket feed failed");
    this.session.sendError({ ...toErrorFrame(error), bookingId: this.bookingId, channel });
    if (channel === "status") {
      this.cancel();
      this.session.forget(this.bookingId, this);
    }
  }
}
