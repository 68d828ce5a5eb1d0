/**
 * Fleet through the gateway, the way the transporter and driver apps call it: the vehicle REST
 * aliases and Connect paths, ownership, platform-wide unique registrations, the driver-login
 * rule (refused for unregistered phones, allowed with the transporter in the token) and the
 * one-driver-per-vehicle claim.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { startTestSystem, uniquePhone, type TestSystem } from "./test-support.js";

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** A registration number no other test uses: MH + 2 digits + 2 letters + 4 digits. */
let registrationCounter = 0;
function uniqueRegistration(): string {
  registrationCounter += 1;
  const n = (process.pid * 100 + registrationCounter) % 10_000_000;
  const letters = String.fromCharCode(65 + (n % 26)) + String.fromCharCode(65 + (Math.floor(n / 26) % 26));
  return `MH${String(10 + (n % 89)).padStart(2, "0")}${letters}${String(1000 + (n % 9000))}`;
}

describe("fleet through the gateway", () => {
  let system: TestSystem;
  before(async () => {
    system = await startTestSystem({ OTP_RESEND_COOLDOWN_S: "0" });
  });
  after(async () => {
    await system?.stop();
  });

  it("lets a transporter add, list, change and delete vehicles through the REST aliases", async () => {
    const transporter = await system.login("transporter");
    const registration = uniqueRegistration();
    const spaced =
      `${registration.slice(0, 2)}-${registration.slice(2, 4)} ${registration.slice(4, 6)} ${registration.slice(6)}`.toLowerCase();
    const added = await system.rest(
      "POST",
      "/api/v1/vehicles",
      { idempotencyKey: randomUUID(), registrationNumber: spaced, vehicleType: "mini_truck", capacityKg: 750 },
      bearer(transporter.accessToken),
    );
    assert.equal(added.status, 201, JSON.stringify(added.body));
    const vehicle = added.body.data.vehicle;
    assert.equal(vehicle.registrationNumber, registration, "normalized: upper case, no spaces or dashes");
    assert.equal(vehicle.status, "VEHICLE_STATUS_AVAILABLE");

    const listed = await system.rest(
      "GET",
      "/api/v1/vehicles?pageSize=10&status=available",
      undefined,
      bearer(transporter.accessToken),
    );
    assert.equal(listed.status, 200);
    assert.deepEqual(
      listed.body.data.vehicles.map((v: { id: string }) => v.id),
      [vehicle.id],
    );

    const changed = await system.rest(
      "PUT",
      `/api/v1/vehicles/${vehicle.id}`,
      { status: "maintenance", capacityKg: 800 },
      bearer(transporter.accessToken),
    );
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    assert.equal(changed.body.data.vehicle.status, "VEHICLE_STATUS_MAINTENANCE");
    assert.equal(changed.body.data.vehicle.capacityKg, 800);

    const deleted = await system.rest(
      "DELETE",
      `/api/v1/vehicles/${vehicle.id}`,
      undefined,
      bearer(transporter.accessToken),
    );
    assert.equal(deleted.status, 200);
    assert.equal(
      (await system.rest("GET", `/api/v1/vehicles/${vehicle.id}`, undefined, bearer(transporter.accessToken))).status,
      404,
    );
  });

  it("keeps vehicles to their owner and registrations unique across transporters", async () => {
    const a = await system.login("transporter");
    const b = await system.login("transporter");
    const registration = uniqueRegistration();
    const added = await system.rest(
      "POST",
      "/api/v1/vehicles",
      { idempotencyKey: randomUUID(), registrationNumber: registration, vehicleType: "lcv_14ft", capacityKg: 4000 },
      bearer(a.accessToken),
    );
    assert.equal(added.status, 201);
    const id = added.body.data.vehicle.id;

    for (const [method, path, body] of [
      ["GET", `/api/v1/vehicles/${id}`, undefined],
      ["PUT", `/api/v1/vehicles/${id}`, { capacityKg: 4500 }],
      ["DELETE", `/api/v1/vehicles/${id}`, undefined],
    ] as const) {
      const refused = await system.rest(method, path, body, bearer(b.accessToken));
      assert.equal(refused.status, 404, `${method} by another transporter`);
    }
    const listedByB = await system.rest("GET", "/api/v1/vehicles", undefined, bearer(b.accessToken));
    assert.deepEqual(listedByB.body.data.vehicles ?? [], []);

    const duplicate = await system.rest(
      "POST",
      "/api/v1/vehicles",
      { idempotencyKey: randomUUID(), registrationNumber: registration, vehicleType: "lcv_14ft", capacityKg: 4000 },
      bearer(b.accessToken),
    );
    assert.equal(duplicate.status, 409);
    assert.equal(duplicate.body.success, false);

    const badNumber = await system.rest(
      "POST",
      "/api/v1/vehicles",
      { idempotencyKey: randomUUID(), registrationNumber: "NOT A NUMBER", vehicleType: "lcv_14ft", capacityKg: 4000 },
      bearer(b.accessToken),
    );
    assert.equal(badNumber.status, 400);
    assert.equal(badNumber.body.error.field, "registration_number");

    const customer = await system.login("customer");
    assert.equal((await system.rest("GET", "/api/v1/vehicles", undefined, bearer(customer.accessToken))).status, 403);
  });

  it("sends an OTP to any driver phone but refuses the login of one no transporter registered, and allows it once registered", async () => {
    const phone = uniquePhone();
    // SendOtp answers alike for every phone (no oracle of registered numbers); VerifyOtp refuses.
    const sent = await system.rest("POST", "/api/v1/auth/send-otp", { phone, role: "driver" });
    assert.equal(sent.status, 200, JSON.stringify(sent.body));
    const customerSent = await system.rest("POST", "/api/v1/auth/send-otp", { phone: uniquePhone(), role: "customer" });
    assert.deepEqual(
      Object.keys(sent.body.data).sort(),
      Object.keys(customerSent.body.data).sort(),
      "the same shape as any other phone's answer",
    );
    const refused = await system.rest("POST", "/api/v1/auth/verify-otp", {
      phone,
      otp: sent.body.data.devOtp,
      role: "driver",
    });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.code, "DRIVER_NOT_REGISTERED");
    assert.match(refused.body.error.message, /not registered as a driver by any transporter/);

    const transporter = await system.login("transporter");
    const registered = await system.connect(
      "/weelo.fleet.v1.DriverService/AddDriver",
      { idempotencyKey: randomUUID(), name: "Ramesh Yadav", phone, licenceNumber: "MH12 20110012345" },
      bearer(transporter.accessToken),
    );
    assert.equal(registered.status, 200, JSON.stringify(registered.body));

    const driver = await system.login("driver", phone);
    assert.equal(driver.user.transporterId, transporter.user.id, "the driver's account names the transporter");
    const me = await system.connect("/weelo.identity.v1.ProfileService/GetMe", {}, bearer(driver.accessToken));
    assert.equal(me.body.user.transporterId, transporter.user.id);
  });

  it("lets a registered driver go online with one vehicle, and refuses a second driver on it", async () => {
    const transporter = await system.login("transporter");
    const vehicle = (
      await system.rest(
        "POST",
        "/api/v1/vehicles",
        {
          idempotencyKey: randomUUID(),
          registrationNumber: uniqueRegistration(),
          vehicleType: "pickup_8ft",
          capacityKg: 1250,
        },
        bearer(transporter.accessToken),
      )
    ).body.data.vehicle;
    const drivers = [];
    for (const name of ["Suresh", "Mahesh"]) {
      const phone = uniquePhone();
      const added = await system.connect(
        "/weelo.fleet.v1.DriverService/AddDriver",
        { idempotencyKey: randomUUID(), name, phone, licenceNumber: "KA01 20190001234" },
        bearer(transporter.accessToken),
      );
      assert.equal(added.status, 200, JSON.stringify(added.body));
      drivers.push(await system.login("driver", phone));
    }
    const claims = await Promise.all(
      drivers.map((driver) =>
        system.connect(
          "/weelo.fleet.v1.DriverService/SetAvailability",
          { online: true, vehicleId: vehicle.id },
          bearer(driver.accessToken),
        ),
      ),
    );
    assert.deepEqual(claims.map((c) => c.status).sort(), [200, 409], JSON.stringify(claims.map((c) => c.body)));
    const loser = claims.find((c) => c.status === 409)!;
    assert.match(loser.body.message, /already in use/);
  });

  it("lists, reads and removes drivers; a driver reads and changes their own availability", async () => {
    const transporter = await system.login("transporter");
    const other = await system.login("transporter");
    const vehicle = (
      await system.rest(
        "POST",
        "/api/v1/vehicles",
        {
          idempotencyKey: randomUUID(),
          registrationNumber: uniqueRegistration(),
          vehicleType: "mini_truck",
          capacityKg: 750,
        },
        bearer(transporter.accessToken),
      )
    ).body.data.vehicle;
    const phone = uniquePhone();
    const added = await system.connect(
      "/weelo.fleet.v1.DriverService/AddDriver",
      { idempotencyKey: randomUUID(), name: "Vijay Patil", phone, licenceNumber: "MH14 20150012345" },
      bearer(transporter.accessToken),
    );
    const driverId = added.body.driver.id;

    const listed = await system.connect(
      "/weelo.fleet.v1.DriverService/ListDrivers",
      { pageSize: 10 },
      bearer(transporter.accessToken),
    );
    assert.deepEqual(
      listed.body.drivers.map((d: { id: string }) => d.id),
      [driverId],
    );
    assert.equal(
      (await system.connect("/weelo.fleet.v1.DriverService/GetDriver", { driverId }, bearer(transporter.accessToken)))
        .body.driver.phone,
      `+91${phone}`,
    );
    assert.equal(
      (await system.connect("/weelo.fleet.v1.DriverService/GetDriver", { driverId }, bearer(other.accessToken))).status,
      404,
      "another transporter's driver",
    );

    const driver = await system.login("driver", phone);
    const online = await system.connect(
      "/weelo.fleet.v1.DriverService/SetAvailability",
      { online: true, vehicleId: vehicle.id },
      bearer(driver.accessToken),
    );
    assert.equal(online.status, 200, JSON.stringify(online.body));
    const state = await system.connect("/weelo.fleet.v1.DriverService/GetAvailability", {}, bearer(driver.accessToken));
    assert.equal(state.body.driver.status, "DRIVER_STATUS_ONLINE");
    assert.equal(state.body.vehicle.id, vehicle.id);
    const offline = await system.connect(
      "/weelo.fleet.v1.DriverService/SetAvailability",
      { online: false },
      bearer(driver.accessToken),
    );
    assert.equal(offline.status, 200);
    assert.equal(
      (await system.connect("/weelo.fleet.v1.DriverService/GetAvailability", {}, bearer(driver.accessToken))).body
        .driver.status ?? "DRIVER_STATUS_OFFLINE",
      "DRIVER_STATUS_OFFLINE",
    );

    const removed = await system.connect(
      "/weelo.fleet.v1.DriverService/RemoveDriver",
      { driverId },
      bearer(transporter.accessToken),
    );
    assert.equal(removed.status, 200);
    assert.deepEqual(
      (await system.connect("/weelo.fleet.v1.DriverService/ListDrivers", {}, bearer(transporter.accessToken))).body
        .drivers ?? [],
      [],
    );
    const sent = await system.rest("POST", "/api/v1/auth/send-otp", { phone, role: "driver" });
    assert.equal(sent.status, 200, "SendOtp answers alike for every phone");
    const refused = await system.rest("POST", "/api/v1/auth/verify-otp", {
      phone,
      otp: sent.body.data.devOtp,
      role: "driver",
    });
    assert.equal(refused.status, 403, "a removed driver can no longer log in");
    assert.equal(refused.body.error.code, "DRIVER_NOT_REGISTERED");
  });

  it("stores the transporter's base location and service radius", async () => {
    const transporter = await system.login("transporter");
    const updated = await system.connect(
      "/weelo.fleet.v1.TransporterService/UpdateTransporterProfile",
      { baseLocation: { lat: 18.5204, lng: 73.8567 }, serviceRadiusKm: 40 },
      bearer(transporter.accessToken),
    );
    assert.equal(updated.status, 200, JSON.stringify(updated.body));
    const read = await system.connect(
      "/weelo.fleet.v1.TransporterService/GetTransporterProfile",
      {},
      bearer(transporter.accessToken),
    );
    assert.equal(read.body.profile.serviceRadiusKm, 40);
    assert.equal(read.body.profile.baseLocation.lat, 18.5204);
  });
});
