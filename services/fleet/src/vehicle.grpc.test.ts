/**
 * VehicleService and TransporterService through a real gRPC server and client, on the
 * embedded defaults or on real Postgres/Redis/NATS when their URLs are set.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { VehicleStatus } from "@weelo/contracts/grpc/weelo/fleet/v1/fleet";
import { GrpcCode } from "@weelo/errors";
import { failure, startTestFleet, uniqueRegistration, type TestFleet } from "./test-support.js";

describe("VehicleService over gRPC", () => {
  let t: TestFleet;
  before(async () => {
    t = await startTestFleet();
  });
  after(async () => {
    await t?.stop();
  });

  const newVehicle = (overrides: Record<string, unknown> = {}) => ({
    idempotencyKey: "",
    registrationNumber: uniqueRegistration(),
    vehicleType: "mini_truck",
    capacityKg: 750,
    makeModel: "Tata Ace Gold",
    ...overrides,
  });

  it("adds a vehicle with its registration normalized, and reads it back", async () => {
    const a = await t.transporter();
    const { vehicle } = await t.vehicles.addVehicle(
      newVehicle({ registrationNumber: "mh-12 ab 1234", makeModel: "  Tata   Ace " }),
      a.auth,
    );
    assert.ok(vehicle);
    assert.equal(vehicle.registrationNumber, "MH12AB1234");
    assert.equal(vehicle.transporterId, a.id);
    assert.equal(vehicle.status, VehicleStatus.VEHICLE_STATUS_AVAILABLE);
    assert.equal(vehicle.makeModel, "Tata Ace");
    assert.equal(vehicle.currentDriverId, "");
    assert.ok(vehicle.createdAt instanceof Date);
    const { vehicle: read } = await t.vehicles.getVehicle({ vehicleId: vehicle.id }, a.auth);
    assert.deepEqual(read, vehicle);
  });

  it("refuses malformed vehicles, naming the field", async () => {
    const a = await t.transporter();
    const cases: [Record<string, unknown>, string][] = [
      [{ registrationNumber: "MH12AB123" }, "registration_number"],
      [{ vehicleType: "spaceship" }, "vehicle_type"],
      [{ vehicleType: "Mini Truck!" }, "vehicle_type"],
      [{ capacityKg: 70_000 }, "capacity_kg"],
      [{ capacityKg: 0 }, "capacity_kg"],
    ];
    for (const [overrides, field] of cases) {
      const error = await failure(t.vehicles.addVehicle(newVehicle(overrides), a.auth));
      assert.equal(error.code, GrpcCode.INVALID_ARGUMENT, JSON.stringify(overrides));
      assert.equal(error.field, field, JSON.stringify(overrides));
    }
  });

  it("gives another transporter NOT_FOUND for a vehicle it does not own, for reads and changes alike", async () => {
    const a = await t.transporter();
    const b = await t.transporter();
    const { vehicle } = await t.vehicles.addVehicle(newVehicle(), a.auth);
    const id = vehicle!.id;
    for (const call of [
      () => t.vehicles.getVehicle({ vehicleId: id }, b.auth),
      () => t.vehicles.updateVehicle({ vehicleId: id, capacityKg: 900 }, b.auth),
      () => t.vehicles.updateVehicle({ vehicleId: id, status: VehicleStatus.VEHICLE_STATUS_INACTIVE }, b.auth),
      () => t.vehicles.deleteVehicle({ vehicleId: id }, b.auth),
    ]) {
      const error = await failure(call());
      assert.equal(error.code, GrpcCode.NOT_FOUND);
      assert.equal(error.message, "vehicle not found");
    }
    const { vehicles } = await t.vehicles.listVehicles(
      { pageSize: 0, pageToken: "", status: 0, vehicleType: "" },
      b.auth,
    );
    assert.deepEqual(vehicles, []);
    const { vehicle: untouched } = await t.vehicles.getVehicle({ vehicleId: id }, a.auth);
    assert.equal(untouched!.capacityKg, 750, "B's update did not land");
  });

  it("keeps a registration number in one fleet: a second transporter gets ALREADY_EXISTS with a clear message", async () => {
    const a = await t.transporter();
    const b = await t.transporter();
    const registrationNumber = uniqueRegistration();
    const { vehicle } = await t.vehicles.addVehicle(newVehicle({ registrationNumber }), a.auth);
    const spaced = `${registrationNumber.slice(0, 2)}-${registrationNumber.slice(2, 4)} ${registrationNumber.slice(4).toLowerCase()}`;
    const other = await failure(t.vehicles.addVehicle(newVehicle({ registrationNumber: spaced }), b.auth));
    assert.equal(other.code, GrpcCode.ALREADY_EXISTS);
    assert.equal(other.reason, "REGISTRATION_NUMBER_TAKEN");
    assert.equal(other.field, "registration_number");
    assert.match(other.message, new RegExp(`vehicle ${registrationNumber} is registered by another transporter`));
    const same = await failure(t.vehicles.addVehicle(newVehicle({ registrationNumber }), a.auth));
    assert.equal(same.code, GrpcCode.ALREADY_EXISTS);
    assert.match(same.message, /already in your fleet/);

    // A deleted (sold) truck can be added by its new owner.
    await t.vehicles.deleteVehicle({ vehicleId: vehicle!.id }, a.auth);
    const { vehicle: resold } = await t.vehicles.addVehicle(newVehicle({ registrationNumber }), b.auth);
    assert.equal(resold!.transporterId, b.id);
    assert.equal((await failure(t.vehicles.getVehicle({ vehicleId: vehicle!.id }, a.auth))).code, GrpcCode.NOT_FOUND);
  });

  it("lets only one of many concurrent adds of the same registration win", async () => {
    const registrationNumber = uniqueRegistration();
    const fleets = await Promise.all(Array.from({ length: 6 }, () => t.transporter()));
    const results = await Promise.allSettled(
      fleets.map((f) => t.vehicles.addVehicle(newVehicle({ registrationNumber }), f.auth)),
    );
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
    for (const r of results)
      if (r.status === "rejected") assert.equal((r.reason as { code: number }).code, GrpcCode.ALREADY_EXISTS);
  });

  it("returns the first vehicle for a retried idempotency key, and refuses the key for another vehicle", async () => {
    const a = await t.transporter();
    const request = newVehicle({ idempotencyKey: "add-truck-1" });
    const [first, second] = await Promise.all([
      t.vehicles.addVehicle(request, a.auth),
      t.vehicles.addVehicle(request, a.auth),
    ]);
    assert.equal(first.vehicle!.id, second.vehicle!.id);
    const third = await t.vehicles.addVehicle(request, a.auth);
    assert.equal(third.vehicle!.id, first.vehicle!.id);
    const reused = await failure(t.vehicles.addVehicle(newVehicle({ idempotencyKey: "add-truck-1" }), a.auth));
    assert.equal(reused.code, GrpcCode.INVALID_ARGUMENT);
    assert.equal(reused.reason, "IDEMPOTENCY_KEY_REUSED");
    // The same key belongs to each transporter separately.
    const b = await t.transporter();
    const { vehicle } = await t.vehicles.addVehicle(newVehicle({ idempotencyKey: "add-truck-1" }), b.auth);
    assert.notEqual(vehicle!.id, first.vehicle!.id);
  });

  it("lists newest first, page by page, filtered by status and type", async () => {
    const a = await t.transporter();
    const added: string[] = [];
    for (let i = 0; i < 7; i++) {
      const { vehicle } = await t.vehicles.addVehicle(
        newVehicle({ vehicleType: i % 2 === 0 ? "mini_truck" : "lcv_14ft" }),
        a.auth,
      );
      added.push(vehicle!.id);
    }
    const seen: string[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const page = await t.vehicles.listVehicles({ pageSize: 3, pageToken, status: 0, vehicleType: "" }, a.auth);
      assert.ok(page.vehicles.length <= 3);
      seen.push(...page.vehicles.map((v) => v.id));
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken);
    assert.equal(pages, 3);
    assert.deepEqual(seen, [...added].reverse());

    const lcv = await t.vehicles.listVehicles(
      { pageSize: 0, pageToken: "", status: 0, vehicleType: "lcv_14ft" },
      a.auth,
    );
    assert.deepEqual(
      lcv.vehicles.map((v) => v.id),
      [added[5], added[3], added[1]],
    );
    await t.vehicles.updateVehicle({ vehicleId: added[2]!, status: VehicleStatus.VEHICLE_STATUS_MAINTENANCE }, a.auth);
    const inMaintenance = await t.vehicles.listVehicles(
      { pageSize: 0, pageToken: "", status: VehicleStatus.VEHICLE_STATUS_MAINTENANCE, vehicleType: "" },
      a.auth,
    );
    assert.deepEqual(
      inMaintenance.vehicles.map((v) => v.id),
      [added[2]],
    );
    const bad = await failure(
      t.vehicles.listVehicles({ pageSize: 0, pageToken: "nonsense", status: 0, vehicleType: "" }, a.auth),
    );
    assert.equal(bad.field, "page_token");
  });

  it("updates only the fields given", async () => {
    const a = await t.transporter();
    const { vehicle } = await t.vehicles.addVehicle(newVehicle(), a.auth);
    const { vehicle: updated } = await t.vehicles.updateVehicle(
      { vehicleId: vehicle!.id, capacityKg: 1000, vehicleType: "pickup_8ft" },
      a.auth,
    );
    assert.equal(updated!.capacityKg, 1000);
    assert.equal(updated!.vehicleType, "pickup_8ft");
    assert.equal(updated!.makeModel, vehicle!.makeModel);
    assert.equal(updated!.status, VehicleStatus.VEHICLE_STATUS_AVAILABLE);
    const { vehicle: inactive } = await t.vehicles.updateVehicle(
      { vehicleId: vehicle!.id, status: VehicleStatus.VEHICLE_STATUS_INACTIVE },
      a.auth,
    );
    assert.equal(inactive!.status, VehicleStatus.VEHICLE_STATUS_INACTIVE);
    assert.equal(inactive!.capacityKg, 1000);
    for (const status of [VehicleStatus.VEHICLE_STATUS_ON_TRIP, VehicleStatus.VEHICLE_STATUS_UNSPECIFIED]) {
      const error = await failure(t.vehicles.updateVehicle({ vehicleId: vehicle!.id, status }, a.auth));
      assert.equal(error.code, GrpcCode.INVALID_ARGUMENT);
      assert.equal(error.field, "status");
    }
    const unknownType = await failure(
      t.vehicles.updateVehicle({ vehicleId: vehicle!.id, vehicleType: "hovercraft" }, a.auth),
    );
    assert.equal(unknownType.reason, "VEHICLE_TYPE_UNKNOWN");
  });

  it("refuses to delete or inactivate a vehicle ON_TRIP, naming the status", async () => {
    const a = await t.transporter();
    const { vehicle } = await t.vehicles.addVehicle(newVehicle(), a.auth);
    const id = vehicle!.id;
    await t.db.updateTable("vehicles").set({ status: "on_trip" }).where("id", "=", id).execute();

    const deleting = await failure(t.vehicles.deleteVehicle({ vehicleId: id }, a.auth));
    assert.equal(deleting.code, GrpcCode.FAILED_PRECONDITION);
    assert.match(
      deleting.message,
      new RegExp(`vehicle ${vehicle!.registrationNumber} is ON_TRIP; it cannot be deleted`),
    );
    const inactivating = await failure(
      t.vehicles.updateVehicle({ vehicleId: id, status: VehicleStatus.VEHICLE_STATUS_INACTIVE }, a.auth),
    );
    assert.equal(inactivating.code, GrpcCode.FAILED_PRECONDITION);
    assert.match(inactivating.message, /is ON_TRIP; it cannot be set INACTIVE/);
    // Other details may still be corrected during a trip.
    const { vehicle: corrected } = await t.vehicles.updateVehicle({ vehicleId: id, makeModel: "Tata Ace HT" }, a.auth);
    assert.equal(corrected!.status, VehicleStatus.VEHICLE_STATUS_ON_TRIP);
    assert.equal(corrected!.makeModel, "Tata Ace HT");

    await t.db.updateTable("vehicles").set({ status: "available" }).where("id", "=", id).execute();
    await t.vehicles.deleteVehicle({ vehicleId: id }, a.auth);
    assert.equal((await failure(t.vehicles.deleteVehicle({ vehicleId: id }, a.auth))).code, GrpcCode.NOT_FOUND);
  });

  it("needs a transporter's token to change a fleet", async () => {
    const noToken = await failure(t.vehicles.addVehicle(newVehicle()));
    assert.equal(noToken.code, GrpcCode.UNAUTHENTICATED);
    const customer = await failure(t.vehicles.addVehicle(newVehicle(), t.as(await t.token("customer"))));
    assert.equal(customer.code, GrpcCode.PERMISSION_DENIED);
    const customerList = await failure(
      t.vehicles.listVehicles(
        { pageSize: 0, pageToken: "", status: 0, vehicleType: "" },
        t.as(await t.token("customer")),
      ),
    );
    assert.equal(customerList.code, GrpcCode.PERMISSION_DENIED);
  });

  it("shows drivers their transporter's fleet, read-only", async () => {
    const a = await t.transporter();
    const { vehicle } = await t.vehicles.addVehicle(newVehicle(), a.auth);
    const driver = await t.driver(a);
    const { vehicles } = await t.vehicles.listVehicles(
      { pageSize: 0, pageToken: "", status: VehicleStatus.VEHICLE_STATUS_AVAILABLE, vehicleType: "" },
      driver.auth,
    );
    assert.deepEqual(
      vehicles.map((v) => v.id),
      [vehicle!.id],
    );
    const changing = await failure(t.vehicles.updateVehicle({ vehicleId: vehicle!.id, capacityKg: 800 }, driver.auth));
    assert.equal(changing.code, GrpcCode.PERMISSION_DENIED);
  });
});

describe("TransporterService over gRPC", () => {
  let t: TestFleet;
  before(async () => {
    t = await startTestFleet();
  });
  after(async () => {
    await t?.stop();
  });

  it("starts with the default radius and no base, then keeps what is set", async () => {
    const a = await t.transporter();
    const { profile: fresh } = await t.transporters.getTransporterProfile({}, a.auth);
    assert.deepEqual(fresh, {
      transporterId: a.id,
      baseLocation: undefined,
      serviceRadiusKm: 50,
      updatedAt: undefined,
    });

    const { profile: set } = await t.transporters.updateTransporterProfile(
      { baseLocation: { lat: 18.5204, lng: 73.8567 } },
      a.auth,
    );
    assert.deepEqual(set!.baseLocation, { lat: 18.5204, lng: 73.8567 });
    assert.equal(set!.serviceRadiusKm, 50);
    const { profile: widened } = await t.transporters.updateTransporterProfile({ serviceRadiusKm: 120 }, a.auth);
    assert.deepEqual(widened!.baseLocation, { lat: 18.5204, lng: 73.8567 }, "the base stays");
    assert.equal(widened!.serviceRadiusKm, 120);
    const { profile: read } = await t.transporters.getTransporterProfile({}, a.auth);
    assert.deepEqual(read, widened);
  });

  it("refuses a radius outside 1–500 km and a base outside India", async () => {
    const a = await t.transporter();
    for (const serviceRadiusKm of [0, 501]) {
      assert.equal(
        (await failure(t.transporters.updateTransporterProfile({ serviceRadiusKm }, a.auth))).field,
        "service_radius_km",
      );
    }
    assert.equal(
      (await failure(t.transporters.updateTransporterProfile({ baseLocation: { lat: 51.5, lng: -0.12 } }, a.auth)))
        .field,
      "base_location",
    );
    const driver = await failure(t.transporters.getTransporterProfile({}, t.as(await t.token("driver"))));
    assert.equal(driver.code, GrpcCode.PERMISSION_DENIED);
  });
});
