import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ActorRole, BookingStatus } from "@weelo/contracts/grpc/weelo/booking/v1/booking";
import { BookingOpsServiceService } from "@weelo/contracts/grpc/weelo/booking/v1/booking_ops_service";
import { OfferStatus } from "@weelo/contracts/grpc/weelo/dispatch/v1/dispatch";
import { DispatchOpsServiceService } from "@weelo/contracts/grpc/weelo/dispatch/v1/dispatch_ops_service";
import { DriverStatus } from "@weelo/contracts/grpc/weelo/fleet/v1/fleet";
import { FleetDirectoryServiceService } from "@weelo/contracts/grpc/weelo/fleet/v1/fleet_directory_service";
import { DomainError } from "@weelo/errors";
import type { ServiceClient } from "@weelo/grpc";
import { failure, until } from "@weelo/testing";
import { north, PUNE, startTestDispatch, type TestDispatch, type TestTransporter } from "./test-support.js";

const OPS_USER = "01900000-0000-7000-8000-0000000000a2";

describe("DispatchOpsService: operations' views, reopen, reassignment and cancellation, with every service real", () => {
  let t: TestDispatch;
  let ops: ServiceClient<typeof DispatchOpsServiceService>;
  let bookingOps: ServiceClient<typeof BookingOpsServiceService>;
  let directory: ServiceClient<typeof FleetDirectoryServiceService>;
  let area = 60;

  before(async () => {
    // Waves far apart: an order reopened or left open stays open for the whole test (no expiry meanwhile).
    t = await startTestDispatch({ env: { WAVE_DURATION_MS: "60000" } });
    // Internal services over the mesh with the ops service's certificate (fleet's as dispatch does).
    ops = t.platform.meshClient(DispatchOpsServiceService, t.meshAddress, "ops");
    bookingOps = t.platform.meshClient(BookingOpsServiceService, t.meshAddress, "ops");
    directory = t.platform.meshClient(FleetDirectoryServiceService, t.meshAddress, "dispatch");
  });
  after(async () => {
    for (const client of [ops, bookingOps, directory]) client?.close();
    await t?.stop();
  });

  const bookingOf = async (bookingId: string) => (await bookingOps.getBookingHistory({ bookingId })).booking!;
  const driverStatus = async (transporter: TestTransporter, driverId: string, vehicleId: string) =>
    (await directory.getDriverAndVehicle({ transporterId: transporter.id, driverId, vehicleId })).driverStatus;

  /** A booking of its own area taken by a transporter (2 vehicles, a live driver nearby): accepted, not assigned. */
  async function accepted() {
    area += 30;
    const pickup = north(PUNE, area);
    const transporter = await t.transporter({ vehicles: 2 });
    await t.onlineDriver(transporter, transporter.vehicles[0]!, north(pickup, 1));
    const { customer, orderId, bookingIds } = await t.book(1, pickup);
    const offer = await t.offerFor(transporter, orderId);
    await t.dispatch.acceptOffer({ offerId: offer.id, vehicleCount: 1 }, transporter.auth);
    return { pickup, transporter, customer, orderId, bookingId: bookingIds[0]!, offerId: offer.id };
  }

  async function assigned() {
    const taken = await accepted();
    const driver = await t.driver(taken.transporter);
    const vehicleId = taken.transporter.vehicles[1]!;
    await t.dispatch.assignDriver(
      { bookingId: taken.bookingId, driverId: driver.id, vehicleId },
      taken.transporter.auth,
    );
    await until("the driver ON_TRIP in fleet", async () => {
      return (await driverStatus(taken.transporter, driver.id, vehicleId)) === DriverStatus.DRIVER_STATUS_ON_TRIP;
    });
    return { ...taken, driver, vehicleId };
  }

  /** The driver can take another booking of the transporter: dispatch holds no claim on them. */
  async function assignableAgain(
    transporter: TestTransporter,
    pickup: { lat: number; lng: number },
    driverId: string,
    vehicleId: string,
  ) {
    const { orderId, bookingIds } = await t.book(1, north(pickup, 0.5));
    const offer = await t.offerFor(transporter, orderId);
    await t.dispatch.acceptOffer({ offerId: offer.id, vehicleCount: 1 }, transporter.auth);
    const again = await t.dispatch.assignDriver({ bookingId: bookingIds[0]!, driverId, vehicleId }, transporter.auth);
    assert.equal(again.driverId, driverId);
  }

  it("lists a booking's offers and the transporters holding open offers", async () => {
    area += 30;
    const pickup = north(PUNE, area);
    const transporter = await t.transporter({ vehicles: 1 });
    await t.onlineDriver(transporter, transporter.vehicles[0]!, north(pickup, 1));
    const { orderId, bookingIds } = await t.book(1, pickup);
    const offer = await t.offerFor(transporter, orderId);
    assert.ok((await ops.listOfferedTransporters({})).transporterIds.includes(transporter.id));
    const listed = await ops.listBookingOffers({ bookingId: bookingIds[0]! });
    assert.deepEqual(
      listed.offers.map((o) => [o.id, o.transporterId, o.status]),
      [[offer.id, transporter.id, OfferStatus.OFFER_STATUS_OPEN]],
    );
    await t.dispatch.acceptOffer({ offerId: offer.id, vehicleCount: 1 }, transporter.auth);
    assert.equal(
      (await ops.listBookingOffers({ bookingId: bookingIds[0]! })).offers[0]!.status,
      OfferStatus.OFFER_STATUS_ACCEPTED,
    );
    assert.ok(!(await ops.listOfferedTransporters({})).transporterIds.includes(transporter.id));
    const hour = 3_600_000;
    const from = new Date(Math.floor(Date.now() / hour) * hour);
    const funnel = await ops.getDispatchFunnel({ from, to: new Date(from.getTime() + hour) });
    assert.equal(funnel.hours.length, 1);
    assert.ok(funnel.hours[0]!.waves >= 1 && funnel.hours[0]!.offers >= 1 && funnel.hours[0]!.accepted >= 1);
    const week = await ops.getDispatchFunnel({
      from: new Date(from.getTime() - 47 * hour),
      to: new Date(from.getTime() + hour),
    });
    assert.equal(week.hours.length, 48, "empty hours included");
  });

  it("reopens an ASSIGNED booking: claims released, PENDING with the ops user in history, offered again; a second reopen changes nothing", async () => {
    const { transporter, bookingId, orderId, pickup, driver, vehicleId } = await assigned();
    // Another transporter nearby, who had the offer withdrawn when the first took the truck.
    const other = await t.transporter({ vehicles: 1 });
    await t.onlineDriver(other, other.vehicles[0]!, north(pickup, 1.5));
    const reopened = await ops.reopenBookingByOps({ bookingId, opsUserId: OPS_USER, reason: "driver unreachable" });
    assert.equal(reopened.reopened, true);
    assert.equal(reopened.previousTransporterId, transporter.id);
    assert.equal(reopened.previousDriverId, driver.id);
    const { booking, history } = await bookingOps.getBookingHistory({ bookingId });
    assert.equal(booking!.status, BookingStatus.BOOKING_STATUS_PENDING);
    assert.equal(history.at(-1)!.actorRole, ActorRole.ACTOR_ROLE_OPS);
    assert.equal(history.at(-1)!.actorId, OPS_USER);
    const again = await ops.reopenBookingByOps({ bookingId, opsUserId: OPS_USER, reason: "again" });
    assert.equal(again.reopened, false);
    await t.offerFor(other, orderId);
    await until(
      "the driver free in fleet",
      async () => (await driverStatus(transporter, driver.id, vehicleId)) !== DriverStatus.DRIVER_STATUS_ON_TRIP,
    );
    await assignableAgain(transporter, pickup, driver.id, vehicleId);
  });

  it("ops reopen and the transporter's AssignDriver at once end consistent: PENDING, the driver free everywhere", async () => {
    const { transporter, bookingId, pickup } = await accepted();
    const driver = await t.driver(transporter);
    const vehicleId = transporter.vehicles[1]!;
    const [reopen, assign] = await Promise.allSettled([
      ops.reopenBookingByOps({ bookingId, opsUserId: OPS_USER, reason: "operations took it back" }),
      t.dispatch.assignDriver({ bookingId, driverId: driver.id, vehicleId }, transporter.auth),
    ]);
    assert.equal(reopen.status, "fulfilled", String(reopen.status === "rejected" && reopen.reason));
    if (assign.status === "rejected") assert.ok(assign.reason instanceof DomainError && assign.reason.code === 9);
    await until(
      "booking PENDING",
      async () => (await bookingOf(bookingId)).status === BookingStatus.BOOKING_STATUS_PENDING,
    );
    await until(
      "the driver not ON_TRIP in fleet",
      async () => (await driverStatus(transporter, driver.id, vehicleId)) !== DriverStatus.DRIVER_STATUS_ON_TRIP,
    );
    await assignableAgain(transporter, pickup, driver.id, vehicleId);
    const { booking, history } = await bookingOps.getBookingHistory({ bookingId });
    assert.equal(booking!.status, BookingStatus.BOOKING_STATUS_PENDING, "still PENDING after it all");
    assert.equal(history.at(-1)!.actorRole, ActorRole.ACTOR_ROLE_OPS);
  });

  it("reassigns to another driver and vehicle: fleet frees the old pair and holds the new; a retry answers the same; a busy driver is refused", async () => {
    const { transporter, bookingId, driver, vehicleId, pickup } = await assigned();
    const next = await t.driver(transporter);
    const nextVehicle = await t.vehicle(transporter);
    const request = {
      bookingId,
      driverId: next.id,
      vehicleId: nextVehicle,
      opsUserId: OPS_USER,
      reason: "truck broke down",
    };
    const moved = await ops.reassignDriver(request);
    assert.deepEqual(
      [moved.driverId, moved.vehicleId, moved.previousDriverId, moved.previousVehicleId],
      [next.id, nextVehicle, driver.id, vehicleId],
    );
    const booking = await bookingOf(bookingId);
    assert.equal(booking.status, BookingStatus.BOOKING_STATUS_ASSIGNED);
    assert.equal(booking.driverId, next.id);
    assert.equal(booking.vehicleId, nextVehicle);
    assert.deepEqual(await ops.reassignDriver(request), moved, "a retry answers the same");
    await until("fleet: new driver ON_TRIP, old one free", async () => {
      const [now, before] = await Promise.all([
        driverStatus(transporter, next.id, nextVehicle),
        driverStatus(transporter, driver.id, vehicleId),
      ]);
      return now === DriverStatus.DRIVER_STATUS_ON_TRIP && before !== DriverStatus.DRIVER_STATUS_ON_TRIP;
    });
    // The released driver takes another booking of the transporter (dispatch released the claim);
    // moving that booking to the driver now on the first trip is refused.
    const { orderId, bookingIds } = await t.book(1, north(pickup, 0.5));
    const offer = await t.offerFor(transporter, orderId);
    await t.dispatch.acceptOffer({ offerId: offer.id, vehicleCount: 1 }, transporter.auth);
    await t.dispatch.assignDriver({ bookingId: bookingIds[0]!, driverId: driver.id, vehicleId }, transporter.auth);
    const busy = await failure(ops.reassignDriver({ ...request, bookingId: bookingIds[0]! }));
    assert.equal(busy.code, 9);
    assert.equal(busy.reason, "DRIVER_BUSY");
  });

  it("two reassignments at once to different drivers: one wins, booking, dispatch and fleet agree on it", async () => {
    const { transporter, bookingId, driver, vehicleId } = await assigned();
    const b = await t.driver(transporter);
    const c = await t.driver(transporter);
    const vb = await t.vehicle(transporter);
    const vc = await t.vehicle(transporter);
    const results = await Promise.allSettled([
      ops.reassignDriver({ bookingId, driverId: b.id, vehicleId: vb, opsUserId: OPS_USER, reason: "b" }),
      ops.reassignDriver({ bookingId, driverId: c.id, vehicleId: vc, opsUserId: OPS_USER, reason: "c" }),
    ]);
    const won = results.filter((r) => r.status === "fulfilled");
    assert.equal(won.length, 1, JSON.stringify(results.map((r) => r.status)));
    const lost = results.find((r) => r.status === "rejected")!;
    assert.equal(lost.status === "rejected" && (lost.reason as DomainError).code, 9);
    const winner = (won[0] as PromiseFulfilledResult<{ driverId: string; vehicleId: string }>).value;
    const loser = winner.driverId === b.id ? { id: c.id, vehicle: vc } : { id: b.id, vehicle: vb };
    const booking = await bookingOf(bookingId);
    assert.equal(booking.driverId, winner.driverId);
    assert.equal(booking.vehicleId, winner.vehicleId);
    await until("fleet agrees", async () => {
      const [w, l, old] = await Promise.all([
        driverStatus(transporter, winner.driverId, winner.vehicleId),
        driverStatus(transporter, loser.id, loser.vehicle),
        driverStatus(transporter, driver.id, vehicleId),
      ]);
      return (
        w === DriverStatus.DRIVER_STATUS_ON_TRIP &&
        l !== DriverStatus.DRIVER_STATUS_ON_TRIP &&
        old !== DriverStatus.DRIVER_STATUS_ON_TRIP
      );
    });
  });

  it("cancel by ops of an ASSIGNED booking frees the driver in dispatch and in fleet", async () => {
    const { transporter, bookingId, driver, vehicleId, pickup } = await assigned();
    const cancelled = await bookingOps.cancelBookingByOps({ bookingId, opsUserId: OPS_USER, reason: "fraud check" });
    assert.equal(cancelled.previousStatus, BookingStatus.BOOKING_STATUS_ASSIGNED);
    await until(
      "the driver free in fleet",
      async () => (await driverStatus(transporter, driver.id, vehicleId)) !== DriverStatus.DRIVER_STATUS_ON_TRIP,
    );
    await assignableAgain(transporter, pickup, driver.id, vehicleId);
    const refused = await failure(ops.reopenBookingByOps({ bookingId, opsUserId: OPS_USER, reason: "too late" }));
    assert.equal(refused.code, 9);
  });
});
