import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { BookingStatus } from "@weelo/contracts/grpc/weelo/booking/v1/booking";
import type { DriverCommand } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking";
import { until } from "@weelo/testing";
import { pointAt, startTestTracking, type DriverStreamClient, type TestTracking } from "./test-support.js";

const commandsOf = (stream: DriverStreamClient): DriverCommand[] =>
  stream.responses.flatMap((r) => (r.kind?.$case === "command" ? [r.kind.value] : []));

describe("booking.reassigned in tracking's trip feed", () => {
  let t: TestTracking;
  before(async () => {
    t = await startTestTracking();
  });
  after(async () => {
    await t?.stop();
  });

  it("moves the trip to the new driver: the released driver is told it is gone, the new one gets the assignment, on any replica", async () => {
    const replica = await t.replica();
    const released = await t.driver();
    const taking = await t.driver();
    const trip = await t.startTrip(released.id);
    const oldStream = t.stream(released.token);
    oldStream.send([pointAt(1, 18.52, 73.85)]);
    await oldStream.waitForAck(1);
    // The new driver's stream is held by the other replica: the command crosses the bus.
    const newStream = replica.stream(taking.token);
    newStream.send([pointAt(1, 18.53, 73.86)]);
    await newStream.waitForAck(1);

    trip.driverId = taking.id;
    await t.advance(trip, BookingStatus.BOOKING_STATUS_ASSIGNED, {
      subject: "reassigned",
      previousDriverId: released.id,
    });

    await until("the trip moved on both replicas", () =>
      [t, replica].every(
        (r) =>
          r.tracking.trips.activeOf(taking.id)?.bookingId === trip.bookingId &&
          r.tracking.trips.activeOf(released.id) === undefined,
      ),
    );
    assert.equal((await t.tracking.store.get(released.id))?.onTrip, false, "the released driver can be offered again");
    assert.equal((await t.tracking.store.get(taking.id))?.onTrip, true);

    await until("the released driver's cancellation", () =>
      commandsOf(oldStream).some((c) => c.kind?.$case === "cancelled"),
    );
    const cancelled = commandsOf(oldStream).find((c) => c.kind?.$case === "cancelled")!;
    assert.equal(cancelled.kind?.$case === "cancelled" && cancelled.kind.value.bookingId, trip.bookingId);
    assert.match(
      cancelled.kind?.$case === "cancelled" ? cancelled.kind.value.reason : "",
      /^Reassigned to another driver by operations/,
    );
    await until("the new driver's assignment", () =>
      commandsOf(newStream).some((c) => c.kind?.$case === "assignment" && c.kind.value.bookingId === trip.bookingId),
    );

    // The new driver's points now belong to the trip's breadcrumb.
    newStream.send([pointAt(2, 18.5301, 73.86)]);
    await newStream.waitForAck(2);
    const path = await t.client.getTripPath({ bookingId: trip.bookingId }, trip.customer);
    assert.deepEqual(
      path.points.map((p) => p.seq),
      [1, 2],
      "the released driver's point, then the new driver's",
    );
    assert.equal(commandsOf(oldStream).filter((c) => c.kind?.$case === "cancelled").length, 1, "told once");
  });
});
