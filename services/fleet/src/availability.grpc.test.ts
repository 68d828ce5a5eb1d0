/**
 * A driver's availability through a real gRPC server: the atomic vehicle claim, the
 * transporter's changes that take drivers offline, and the events arriving on the bus.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Consumer } from "@weelo/bus";
import { EventEnvelope } from "@weelo/contracts/grpc/weelo/events/v1/envelope";
import {
  AvailabilityChangeReason,
  DriverAvailabilityChanged,
  DriverRemoved,
} from "@weelo/contracts/grpc/weelo/fleet/v1/events";
import { DriverStatus, VehicleStatus } from "@weelo/contracts/grpc/weelo/fleet/v1/fleet";
import { GrpcCode } from "@weelo/errors";
import { sleep, until } from "@weelo/testing";
import { failure, startTestFleet, uniqueRegistration, type TestFleet } from "./test-support.js";

interface Received {
  subject: string;
  msgId: string | undefined;
  envelope: EventEnvelope;
  event: DriverAvailabilityChanged;
}

describe("driver availability over gRPC", () => {
  let t: TestFleet;
  let consumer: Consumer | undefined;
  const received: Received[] = [];
  const eventsOf = (driverId: string) => received.filter((r) => r.envelope.subjectId === driverId);

  before(async () => {
    t = await startTestFleet();
    consumer = await t.platform.bus.consume({
      stream: t.config.FLEET_STREAM,
      durable: "availability-test",
      filterSubjects: [`${t.config.FLEET_SUBJECT_ROOT}.driver.availability`],
      handler: (msg) => {
        const envelope = EventEnvelope.decode(msg.data);
        assert.equal(envelope.payload?.typeUrl, "type.googleapis.com/weelo.fleet.v1.DriverAvailabilityChanged");
        received.push({
          subject: msg.subject,
          msgId: msg.msgId,
          envelope,
          event: DriverAvailabilityChanged.decode(envelope.payload!.value),
        });
      },
    });
  });
  after(async () => {
    await consumer?.stop();
    await t?.stop();
  });

  async function fleetWithVehicle(vehicleType = "lcv_17ft") {
    const transporter = await t.transporter();
    const { vehicle } = await t.vehicles.addVehicle(
      {
        idempotencyKey: "",
        registrationNumber: uniqueRegistration(),
        vehicleType,
        capacityKg: 3500,
        makeModel: "Eicher Pro 2049",
      },
      transporter.auth,
    );
    return { transporter, vehicleId: vehicle!.id };
  }

  it("takes a driver online and offline, publishing one envelope per change with the driver's sequence", async () => {
    const { transporter, vehicleId } = await fleetWithVehicle();
    const driver = await t.driver(transporter);

    const online = await t.drivers.setAvailability({ online: true, vehicleId }, driver.auth);
    assert.equal(online.driver!.status, DriverStatus.DRIVER_STATUS_ONLINE);
    assert.equal(online.driver!.vehicleId, vehicleId);
    assert.equal(online.vehicle!.id, vehicleId);
    assert.equal(online.vehicle!.currentDriverId, driver.id);
    assert.equal((await t.vehicles.getVehicle({ vehicleId }, transporter.auth)).vehicle!.currentDriverId, driver.id);

    await until("the online event", () => eventsOf(driver.id).length === 1);
    const [first] = eventsOf(driver.id);
    assert.equal(first!.subject, `${t.config.FLEET_SUBJECT_ROOT}.driver.availability`);
    assert.equal(first!.envelope.type, "fleet.driver.availability");
    assert.equal(first!.envelope.sequence, 1);
    assert.equal(first!.msgId, first!.envelope.id, "the JetStream message id is the event id");
    assert.ok(first!.envelope.occurredAt instanceof Date);
    assert.deepEqual(first!.event, {
      driverId: driver.id,
      transporterId: transporter.id,
      vehicleId,
      vehicleType: "lcv_17ft",
      online: true,
      occurredAt: first!.envelope.occurredAt,
      reason: AvailabilityChangeReason.AVAILABILITY_CHANGE_REASON_DRIVER,
    });

    // Asking again changes nothing and publishes nothing.
    await t.drivers.setAvailability({ online: true, vehicleId }, driver.auth);
    const offline = await t.drivers.setAvailability({ online: false, vehicleId: "" }, driver.auth);
    assert.equal(offline.driver!.status, DriverStatus.DRIVER_STATUS_OFFLINE);
    assert.equal(offline.vehicle, undefined);
    await t.drivers.setAvailability({ online: false, vehicleId: "" }, driver.auth);
    await until("the offline event", () => eventsOf(driver.id).length >= 2);
    await sleep(3 * t.config.OUTBOX_POLL_MS);
    const events = eventsOf(driver.id);
    assert.equal(events.length, 2);
    assert.equal(events[1]!.envelope.sequence, 2);
    assert.equal(events[1]!.event.online, false);
    assert.equal(events[1]!.event.vehicleId, vehicleId, "the offline event names the vehicle released");
    assert.equal(events[1]!.event.vehicleType, "lcv_17ft");
    assert.equal((await t.vehicles.getVehicle({ vehicleId }, transporter.auth)).vehicle!.currentDriverId, "");
    assert.equal(await t.fleet.relay.pending(), 0);
  });

  it("lets exactly one of several drivers claiming one vehicle at once win", async () => {
    const { transporter, vehicleId } = await fleetWithVehicle();
    const drivers = await Promise.all(Array.from({ length: 6 }, () => t.driver(transporter)));
    const results = await Promise.allSettled(
      drivers.map((d) => t.drivers.setAvailability({ online: true, vehicleId }, d.auth)),
    );
    const winners = results.flatMap((r, i) => (r.status === "fulfilled" ? [drivers[i]!] : []));
    assert.equal(winners.length, 1, "exactly one claim wins");
    for (const r of results) {
      if (r.status === "fulfilled") continue;
      const error = r.reason as { code: number; reason: string; message: string };
      assert.equal(error.code, GrpcCode.ALREADY_EXISTS);
      assert.equal(error.reason, "VEHICLE_IN_USE");
      assert.equal(error.message, "vehicle is already in use by another driver");
    }
    const winner = winners[0]!;
    assert.equal((await t.vehicles.getVehicle({ vehicleId }, transporter.auth)).vehicle!.currentDriverId, winner.id);
    const loser = drivers.find((d) => d !== winner)!;
    assert.equal((await t.drivers.getAvailability({}, loser.auth)).driver!.status, DriverStatus.DRIVER_STATUS_OFFLINE);

    // Released, the vehicle is free for the next driver.
    await t.drivers.setAvailability({ online: false, vehicleId: "" }, winner.auth);
    const next = await t.drivers.setAvailability({ online: true, vehicleId }, loser.auth);
    assert.equal(next.driver!.vehicleId, vehicleId);
  });

  it("moves an online driver to another vehicle, freeing the first", async () => {
    const { transporter, vehicleId: first } = await fleetWithVehicle();
    const { vehicle } = await t.vehicles.addVehicle(
      {
        idempotencyKey: "",
        registrationNumber: uniqueRegistration(),
        vehicleType: "mini_truck",
        capacityKg: 750,
        makeModel: "",
      },
      transporter.auth,
    );
    const driver = await t.driver(transporter);
    await t.drivers.setAvailability({ online: true, vehicleId: first }, driver.auth);
    const moved = await t.drivers.setAvailability({ online: true, vehicleId: vehicle!.id }, driver.auth);
    assert.equal(moved.driver!.vehicleId, vehicle!.id);
    assert.equal((await t.vehicles.getVehicle({ vehicleId: first }, transporter.auth)).vehicle!.currentDriverId, "");
    await until("both online events", () => eventsOf(driver.id).length === 2);
    assert.equal(eventsOf(driver.id)[1]!.event.vehicleType, "mini_truck");
  });

  it("goes online only with an AVAILABLE vehicle of the driver's own transporter", async () => {
    const { transporter, vehicleId } = await fleetWithVehicle();
    const other = await fleetWithVehicle();
    const driver = await t.driver(transporter);

    await t.vehicles.updateVehicle({ vehicleId, status: VehicleStatus.VEHICLE_STATUS_MAINTENANCE }, transporter.auth);
    const maintenance = await failure(t.drivers.setAvailability({ online: true, vehicleId }, driver.auth));
    assert.equal(maintenance.code, GrpcCode.FAILED_PRECONDITION);
    assert.match(maintenance.message, /is MAINTENANCE; only an AVAILABLE vehicle can be driven/);

    const foreign = await failure(t.drivers.setAvailability({ online: true, vehicleId: other.vehicleId }, driver.auth));
    assert.equal(foreign.code, GrpcCode.NOT_FOUND);
    const missing = await failure(t.drivers.setAvailability({ online: true, vehicleId: "" }, driver.auth));
    assert.equal(missing.code, GrpcCode.INVALID_ARGUMENT);
    assert.equal(missing.field, "vehicle_id");
    assert.equal((await t.drivers.getAvailability({}, driver.auth)).driver!.status, DriverStatus.DRIVER_STATUS_OFFLINE);
  });

  it("takes the driver offline when the transporter sends the vehicle to maintenance or deletes it, and announces a new vehicle type", async () => {
    const { transporter, vehicleId } = await fleetWithVehicle("lcv_14ft");
    const driver = await t.driver(transporter);
    await t.drivers.setAvailability({ online: true, vehicleId }, driver.auth);

    await t.vehicles.updateVehicle({ vehicleId, vehicleType: "lcv_17ft" }, transporter.auth);
    await until("the vehicle-updated event", () => eventsOf(driver.id).length === 2);
    const updated = eventsOf(driver.id)[1]!;
    assert.equal(updated.event.online, true);
    assert.equal(updated.event.vehicleType, "lcv_17ft");
    assert.equal(updated.event.reason, AvailabilityChangeReason.AVAILABILITY_CHANGE_REASON_VEHICLE_UPDATED);

    await t.vehicles.updateVehicle({ vehicleId, status: VehicleStatus.VEHICLE_STATUS_MAINTENANCE }, transporter.auth);
    assert.equal((await t.drivers.getAvailability({}, driver.auth)).driver!.status, DriverStatus.DRIVER_STATUS_OFFLINE);
    await until("the vehicle-unavailable event", () => eventsOf(driver.id).length === 3);
    const released = eventsOf(driver.id)[2]!;
    assert.equal(released.event.online, false);
    assert.equal(released.event.reason, AvailabilityChangeReason.AVAILABILITY_CHANGE_REASON_VEHICLE_UNAVAILABLE);
    assert.equal(released.envelope.sequence, 3);

    await t.vehicles.updateVehicle({ vehicleId, status: VehicleStatus.VEHICLE_STATUS_AVAILABLE }, transporter.auth);
    await t.drivers.setAvailability({ online: true, vehicleId }, driver.auth);
    await t.vehicles.deleteVehicle({ vehicleId }, transporter.auth);
    const after = await t.drivers.getAvailability({}, driver.auth);
    assert.equal(after.driver!.status, DriverStatus.DRIVER_STATUS_OFFLINE);
    await until("the deleted-vehicle event", () => eventsOf(driver.id).length === 5);
    assert.equal(
      eventsOf(driver.id)[4]!.event.reason,
      AvailabilityChangeReason.AVAILABILITY_CHANGE_REASON_VEHICLE_UNAVAILABLE,
    );
  });

  it("takes a removed driver offline and refuses them afterwards", async () => {
    const { transporter, vehicleId } = await fleetWithVehicle();
    const driver = await t.driver(transporter);
    await t.drivers.setAvailability({ online: true, vehicleId }, driver.auth);
    await t.drivers.removeDriver({ driverId: driver.id }, transporter.auth);
    await until("the driver-removed event", () => eventsOf(driver.id).length === 2);
    const removed = eventsOf(driver.id)[1]!;
    assert.equal(removed.event.online, false);
    assert.equal(removed.event.vehicleId, vehicleId);
    assert.equal(removed.event.reason, AvailabilityChangeReason.AVAILABILITY_CHANGE_REASON_DRIVER_REMOVED);
    assert.equal((await t.vehicles.getVehicle({ vehicleId }, transporter.auth)).vehicle!.currentDriverId, "");
    const refused = await failure(t.drivers.setAvailability({ online: true, vehicleId }, driver.auth));
    assert.equal(refused.code, GrpcCode.PERMISSION_DENIED);
    assert.equal(refused.reason, "DRIVER_NOT_REGISTERED");
    // Defence in depth: with a token identity has not revoked (here nobody revokes it), the former fleet stays closed.
    for (const read of [
      () => t.vehicles.listVehicles({ pageSize: 0, pageToken: "", status: 0, vehicleType: "" }, driver.auth),
      () => t.vehicles.getVehicle({ vehicleId }, driver.auth),
    ]) {
      const closed = await failure(read());
      assert.equal(closed.code, GrpcCode.PERMISSION_DENIED);
      assert.equal(closed.reason, "DRIVER_NOT_REGISTERED");
    }
  });

  it("announces a removed driver's account on the bus (identity revokes its sessions on it)", async () => {
    const removals: { envelope: EventEnvelope; event: DriverRemoved; subject: string }[] = [];
    const removalConsumer = await t.platform.bus.consume({
      stream: t.config.FLEET_STREAM,
      durable: "driver-removed-test",
      filterSubjects: [`${t.config.FLEET_SUBJECT_ROOT}.driver.removed`],
      handler: (msg) => {
        const envelope = EventEnvelope.decode(msg.data);
        removals.push({ envelope, subject: msg.subject, event: DriverRemoved.decode(envelope.payload!.value) });
      },
    });
    try {
      const { transporter } = await fleetWithVehicle();
      const driver = await t.driver(transporter);
      await t.drivers.removeDriver({ driverId: driver.id }, transporter.auth);
      await until("the driver-removed event", () => removals.some((r) => r.event.driverId === driver.id));
      const removal = removals.find((r) => r.event.driverId === driver.id)!;
      assert.equal(removal.subject, `${t.config.FLEET_SUBJECT_ROOT}.driver.removed`);
      assert.equal(removal.envelope.type, "fleet.driver.removed");
      assert.equal(removal.envelope.subjectId, driver.id);
      assert.equal(removal.event.userId, driver.userId, "the identity account that logs in with the phone");
      assert.equal(removal.event.transporterId, transporter.id);
      assert.equal(removal.event.phone, driver.phone);
      assert.ok(removal.event.occurredAt instanceof Date);
    } finally {
      await removalConsumer.stop();
    }
  });

  it("keeps a driver ON_TRIP on their vehicle", async () => {
    const { transporter, vehicleId } = await fleetWithVehicle();
    const driver = await t.driver(transporter);
    await t.drivers.setAvailability({ online: true, vehicleId }, driver.auth);
    await t.db.updateTable("drivers").set({ status: "on_trip" }).where("id", "=", driver.id).execute();
    const refused = await failure(t.drivers.setAvailability({ online: false, vehicleId: "" }, driver.auth));
    assert.equal(refused.code, GrpcCode.FAILED_PRECONDITION);
    assert.equal(refused.reason, "DRIVER_ON_TRIP");
  });

  it("needs a linked driver's token", async () => {
    const { transporter, vehicleId } = await fleetWithVehicle();
    const unlinked = await failure(
      t.drivers.setAvailability({ online: true, vehicleId }, t.as(await t.token("driver", undefined, transporter.id))),
    );
    assert.equal(unlinked.code, GrpcCode.FAILED_PRECONDITION);
    assert.equal(unlinked.reason, "DRIVER_ACCOUNT_NOT_LINKED");
    const noTransporter = await failure(
      t.drivers.setAvailability({ online: true, vehicleId }, t.as(await t.token("driver"))),
    );
    assert.equal(noTransporter.code, GrpcCode.PERMISSION_DENIED);
    const asTransporter = await failure(t.drivers.setAvailability({ online: true, vehicleId }, transporter.auth));
    assert.equal(asTransporter.code, GrpcCode.PERMISSION_DENIED);
    // A token naming another transporter than the one that registered the driver finds no driver.
    const driver = await t.driver(transporter);
    const elsewhere = await t.transporter();
    const stale = await failure(
      t.drivers.setAvailability(
        { online: true, vehicleId },
        t.as(await t.token("driver", driver.userId, elsewhere.id)),
      ),
    );
    assert.equal(stale.code, GrpcCode.PERMISSION_DENIED);
  });
});
