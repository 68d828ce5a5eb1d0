/** DriverService (the transporter's side) and FleetDirectoryService through a real gRPC server. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { DriverStatus } from "@weelo/contracts/grpc/weelo/fleet/v1/fleet";
import { GrpcCode } from "@weelo/errors";
import { failure, startTestFleet, uniquePhone, uniqueRegistration, type TestFleet } from "./test-support.js";

describe("DriverService and FleetDirectoryService over gRPC", () => {
  let t: TestFleet;
  before(async () => {
    t = await startTestFleet();
  });
  after(async () => {
    await t?.stop();
  });

  const newDriver = (phone = uniquePhone(), overrides: Record<string, string> = {}) => ({
    idempotencyKey: "",
    name: " Ravi  Kumar ",
    phone,
    licenceNumber: "mh12 2011-0012345",
    ...overrides,
  });

  it("registers a driver with phone and licence normalized", async () => {
    const a = await t.transporter();
    const phone = uniquePhone();
    const { driver } = await t.drivers.addDriver(newDriver(`+91 ${phone.slice(0, 5)}-${phone.slice(5)}`), a.auth);
    assert.equal(driver!.phone, `+91${phone}`);
    assert.equal(driver!.name, "Ravi Kumar");
    assert.equal(driver!.licenceNumber, "MH1220110012345");
    assert.equal(driver!.status, DriverStatus.DRIVER_STATUS_OFFLINE);
    assert.equal(driver!.transporterId, a.id);
    assert.deepEqual((await t.drivers.getDriver({ driverId: driver!.id }, a.auth)).driver, driver);
    for (const [overrides, field] of [
      [{ phone: "12345" }, "phone"],
      [{ licenceNumber: "nope" }, "licence_number"],
      [{ name: "" }, "name"],
    ] as const) {
      assert.equal((await failure(t.drivers.addDriver(newDriver(uniquePhone(), overrides), a.auth))).field, field);
    }
  });

  it("keeps an active driver's phone with one transporter: a second one gets ALREADY_EXISTS", async () => {
    const a = await t.transporter();
    const b = await t.transporter();
    const phone = uniquePhone();
    const { driver } = await t.drivers.addDriver(newDriver(phone), a.auth);
    const other = await failure(t.drivers.addDriver(newDriver(`0${phone}`), b.auth));
    assert.equal(other.code, GrpcCode.ALREADY_EXISTS);
    assert.equal(other.reason, "DRIVER_PHONE_TAKEN");
    assert.match(other.message, /registered as a driver with another transporter/);
    const same = await failure(t.drivers.addDriver(newDriver(phone), a.auth));
    assert.equal(same.reason, "DRIVER_ALREADY_ADDED");

    // Once A removes the driver, B may register them.
    await t.drivers.removeDriver({ driverId: driver!.id }, a.auth);
    const { driver: moved } = await t.drivers.addDriver(newDriver(phone), b.auth);
    assert.equal(moved!.transporterId, b.id);
    assert.equal((await failure(t.drivers.getDriver({ driverId: driver!.id }, a.auth))).code, GrpcCode.NOT_FOUND);
  });

  it("lets only one of many concurrent registrations of a phone win", async () => {
    const phone = uniquePhone();
    const fleets = await Promise.all(Array.from({ length: 5 }, () => t.transporter()));
    const results = await Promise.allSettled(fleets.map((f) => t.drivers.addDriver(newDriver(phone), f.auth)));
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
  });

  it("returns the first driver for a retried idempotency key", async () => {
    const a = await t.transporter();
    const request = newDriver(uniquePhone(), { idempotencyKey: "driver-ravi" });
    const [first, second] = await Promise.all([
      t.drivers.addDriver(request, a.auth),
      t.drivers.addDriver(request, a.auth),
    ]);
    assert.equal(first.driver!.id, second.driver!.id);
    const reused = await failure(
      t.drivers.addDriver(newDriver(uniquePhone(), { idempotencyKey: "driver-ravi" }), a.auth),
    );
    assert.equal(reused.reason, "IDEMPOTENCY_KEY_REUSED");
  });

  it("lists a transporter's own drivers, newest first, page by page", async () => {
    const a = await t.transporter();
    const b = await t.transporter();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await t.drivers.addDriver(newDriver(), a.auth)).driver!.id);
    await t.drivers.addDriver(newDriver(), b.auth);
    const first = await t.drivers.listDrivers({ pageSize: 3, pageToken: "", status: 0 }, a.auth);
    const second = await t.drivers.listDrivers({ pageSize: 3, pageToken: first.nextPageToken, status: 0 }, a.auth);
    assert.equal(second.nextPageToken, "");
    assert.deepEqual(
      [...first.drivers, ...second.drivers].map((d) => d.id),
      [...ids].reverse(),
    );
    await t.drivers.removeDriver({ driverId: ids[0]! }, a.auth);
    const offline = await t.drivers.listDrivers(
      { pageSize: 0, pageToken: "", status: DriverStatus.DRIVER_STATUS_OFFLINE },
      a.auth,
    );
    assert.equal(offline.drivers.length, 4, "removed drivers are not listed");
  });

  it("hides another transporter's driver and refuses to remove one ON_TRIP", async () => {
    const a = await t.transporter();
    const b = await t.transporter();
    const { driver } = await t.drivers.addDriver(newDriver(), a.auth);
    const id = driver!.id;
    assert.equal((await failure(t.drivers.getDriver({ driverId: id }, b.auth))).code, GrpcCode.NOT_FOUND);
    assert.equal((await failure(t.drivers.removeDriver({ driverId: id }, b.auth))).code, GrpcCode.NOT_FOUND);

    const { vehicle } = await t.vehicles.addVehicle(
      {
        idempotencyKey: "",
        registrationNumber: uniqueRegistration(),
        vehicleType: "mini_truck",
        capacityKg: 750,
        makeModel: "",
      },
      a.auth,
    );
    await t.db
      .updateTable("drivers")
      .set({ status: "on_trip", vehicle_id: vehicle!.id })
      .where("id", "=", id)
      .execute();
    const refused = await failure(t.drivers.removeDriver({ driverId: id }, a.auth));
    assert.equal(refused.code, GrpcCode.FAILED_PRECONDITION);
    assert.match(refused.message, /driver Ravi Kumar is ON_TRIP/);
    await t.db.updateTable("drivers").set({ status: "offline", vehicle_id: null }).where("id", "=", id).execute();
    await t.drivers.removeDriver({ driverId: id }, a.auth);
  });

  it("answers FindActiveDriverByPhone without a token: found, not found, and not after removal", async () => {
    const a = await t.transporter();
    const phone = uniquePhone();
    assert.deepEqual(await t.directory.findActiveDriverByPhone({ phone }), {
      found: false,
      driverId: "",
      transporterId: "",
    });
    const { driver } = await t.drivers.addDriver(newDriver(phone), a.auth);
    for (const form of [phone, `+91${phone}`, `0${phone}`]) {
      assert.deepEqual(await t.directory.findActiveDriverByPhone({ phone: form }), {
        found: true,
        driverId: driver!.id,
        transporterId: a.id,
      });
    }
    await t.drivers.removeDriver({ driverId: driver!.id }, a.auth);
    assert.deepEqual(await t.directory.findActiveDriverByPhone({ phone }), {
      found: false,
      driverId: "",
      transporterId: "",
    });
    assert.equal((await failure(t.directory.findActiveDriverByPhone({ phone: "123" }))).field, "phone");
  });

  it("answers the directory's questions in process exactly as over the mesh (the all-in-one's identity asks so)", async () => {
    const a = await t.transporter();
    const phone = uniquePhone();
    const absent = { found: false, driverId: "", transporterId: "" };
    assert.deepEqual(await t.fleet.directory.findActiveDriverByPhone({ phone: `+91${phone}` }), absent);
    const { driver } = await t.drivers.addDriver(newDriver(phone), a.auth);
    const found = { found: true, transporterId: a.id, driverId: driver!.id };
    assert.deepEqual(await t.directory.findActiveDriverByPhone({ phone: `+91${phone}` }), found);
    assert.deepEqual(await t.fleet.directory.findActiveDriverByPhone({ phone: `+91${phone}` }), found);
  });

  it("needs a transporter's token to manage drivers", async () => {
    const driverToken = t.as(await t.token("driver"));
    assert.equal((await failure(t.drivers.addDriver(newDriver(), driverToken))).code, GrpcCode.PERMISSION_DENIED);
    assert.equal(
      (await failure(t.drivers.listDrivers({ pageSize: 0, pageToken: "", status: 0 }))).code,
      GrpcCode.UNAUTHENTICATED,
    );
  });
});
