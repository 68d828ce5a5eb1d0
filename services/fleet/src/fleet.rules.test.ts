import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DomainError, FailedPreconditionError, GrpcCode, InvalidArgumentError } from "@weelo/errors";
import {
  decodePageToken,
  driverRemovalRefusal,
  encodePageToken,
  normalizeIndianPhone,
  normalizeLicenceNumber,
  normalizeRegistrationNumber,
  pageSize,
  planAvailability,
  validateBaseLocation,
  validateId,
  validateIdempotencyKey,
  validateStatusTarget,
  vehicleChangeRefusal,
  vehicleDrivableRefusal,
} from "./fleet.rules.js";

const invalid = (field: string, reason?: string) => (error: unknown) =>
  error instanceof InvalidArgumentError && error.field === field && (reason === undefined || error.reason === reason);

describe("registration numbers", () => {
  it("accepts state series and Bharat series numbers", () => {
    for (const number of [
      "MH12AB1234",
      "DL1CAB1234",
      "KA01A1234",
      "TN09BC0001",
      "UP32ABC9999",
      "22BH1234AA",
      "21BH0001A",
    ]) {
      assert.equal(normalizeRegistrationNumber(number), number, number);
    }
  });

  it("normalizes case, spaces, dashes and dots", () => {
    assert.equal(normalizeRegistrationNumber("mh-12 ab 1234"), "MH12AB1234");
    assert.equal(normalizeRegistrationNumber(" dl 1c ab-1234 "), "DL1CAB1234");
    assert.equal(normalizeRegistrationNumber("KA.01.A.1234"), "KA01A1234");
    assert.equal(normalizeRegistrationNumber("22 BH 1234 aa"), "22BH1234AA");
  });

  it("refuses what is not an Indian registration number, naming the field", () => {
    const refused = [
      "",
      "MH12AB123", // the number has 4 digits
      "MH12AB12345",
      "MH123AB1234", // RTO numbers have at most 2 digits
      "MH12ABCD1234", // series have at most 3 letters
      "MH121234", // no series
      "XX12AB1234", // not a state code
      "MH00AB1234", // RTO 0
      "MH12AB0000",
      "20BH1234AA", // Bharat series began in 2021
      "22BH123AA",
      "22BH1234ABC",
      "22XY1234AA",
      "ABCDEFGHIJ",
      "MH12AB1234; drop table vehicles",
    ];
    for (const number of refused) {
      assert.throws(
        () => normalizeRegistrationNumber(number),
        invalid("registration_number", "REGISTRATION_NUMBER_INVALID"),
        number,
      );
    }
  });

  it("says which part is wrong", () => {
    assert.throws(() => normalizeRegistrationNumber("XX12AB1234"), /"XX", which is not an Indian state code/);
    assert.throws(() => normalizeRegistrationNumber("20BH1234AA"), /before 2021/);
  });
});

describe("phones and licences", () => {
  it("normalizes Indian mobile numbers to E.164", () => {
    for (const input of [
      "9876543210",
      "+919876543210",
      "919876543210",
      "09876543210",
      "98765 43210",
      "+91-98765-43210",
    ]) {
      assert.equal(normalizeIndianPhone(input), "+919876543210", input);
    }
    for (const input of ["", "12345", "5876543210", "+1 415 555 0100", "98765432100"]) {
      assert.throws(() => normalizeIndianPhone(input), invalid("phone", "PHONE_INVALID"), input);
    }
  });

  it("normalizes driving licence numbers and checks them loosely", () => {
    assert.equal(normalizeLicenceNumber("MH12 20110012345"), "MH1220110012345");
    assert.equal(normalizeLicenceNumber("dl-04 2011 0149646"), "DL0420110149646");
    assert.equal(normalizeLicenceNumber("KA0519990001234"), "KA0519990001234");
    for (const bad of ["", "12345", "XX1220110012345", "MH1X20110012345", "MH12123", "MH12 2011 0012345 0012345 99"]) {
      assert.throws(() => normalizeLicenceNumber(bad), invalid("licence_number", "LICENCE_NUMBER_INVALID"), bad);
    }
  });
});

describe("vehicle fields", () => {
  it("takes ids and idempotency keys only in their shapes", () => {
    assert.equal(
      validateId(" 0192F1A2-3B4C-7D5E-8F60-123456789ABC ", "vehicle_id"),
      "0192f1a2-3b4c-7d5e-8f60-123456789abc",
    );
    assert.throws(() => validateId("1; drop table", "vehicle_id"), invalid("vehicle_id"));
    assert.equal(validateIdempotencyKey("  "), null);
    assert.equal(validateIdempotencyKey(" k-1 "), "k-1");
    assert.throws(() => validateIdempotencyKey("k\u0000"), invalid("idempotency_key"));
  });
});

describe("status rules", () => {
  it("lets transporters set every status but ON_TRIP", () => {
    for (const status of ["available", "maintenance", "inactive"] as const)
      assert.equal(validateStatusTarget(status), status);
    assert.throws(() => validateStatusTarget("on_trip"), invalid("status"));
  });

  it("refuses to delete or inactivate a vehicle on a trip, naming the status", () => {
    assert.equal(vehicleChangeRefusal("MH12AB1234", "available", "delete"), undefined);
    assert.equal(vehicleChangeRefusal("MH12AB1234", "maintenance", { to: "inactive" }), undefined);
    const deleting = vehicleChangeRefusal("MH12AB1234", "on_trip", "delete");
    assert.ok(deleting instanceof FailedPreconditionError);
    assert.match(deleting.message, /MH12AB1234 is ON_TRIP; it cannot be deleted/);
    assert.match(vehicleChangeRefusal("MH12AB1234", "on_trip", { to: "inactive" })!.message, /cannot be set INACTIVE/);
  });

  it("keeps drivers on a trip", () => {
    assert.equal(driverRemovalRefusal("Ravi", "online"), undefined);
    assert.equal(driverRemovalRefusal("Ravi", "on_trip")?.code, GrpcCode.FAILED_PRECONDITION);
  });

  it("drives only AVAILABLE vehicles", () => {
    assert.equal(vehicleDrivableRefusal("MH12AB1234", "available"), undefined);
    assert.match(
      vehicleDrivableRefusal("MH12AB1234", "maintenance")!.message,
      /MAINTENANCE; only an AVAILABLE vehicle/,
    );
  });

  it("plans availability changes", () => {
    const offline = { status: "offline" as const, vehicleId: null };
    const onlineWithA = { status: "online" as const, vehicleId: "a" };
    assert.deepEqual(planAvailability(offline, { online: true, vehicleId: "a" }), { kind: "claim", vehicleId: "a" });
    assert.deepEqual(planAvailability(offline, { online: false, vehicleId: null }), { kind: "unchanged" });
    assert.deepEqual(planAvailability(onlineWithA, { online: true, vehicleId: "a" }), { kind: "unchanged" });
    assert.deepEqual(planAvailability(onlineWithA, { online: true, vehicleId: "b" }), {
      kind: "claim",
      vehicleId: "b",
    });
    assert.deepEqual(planAvailability(onlineWithA, { online: false, vehicleId: null }), { kind: "release" });
    assert.throws(() => planAvailability(offline, { online: true, vehicleId: null }), invalid("vehicle_id"));
    assert.throws(
      () => planAvailability({ status: "on_trip", vehicleId: "a" }, { online: false, vehicleId: null }),
      (error: unknown) => error instanceof DomainError && error.reason === "DRIVER_ON_TRIP",
    );
  });
});

describe("transporter profile", () => {
  it("keeps the base in India and the radius from 1 to 500 km", () => {
    assert.deepEqual(validateBaseLocation({ lat: 19.076, lng: 72.8777 }), { lat: 19.076, lng: 72.8777 });
    for (const bad of [
      { lat: 72.8777, lng: 19.076 },
      { lat: 51.5, lng: -0.12 },
      { lat: Number.NaN, lng: 72 },
      { lat: 91, lng: 72 },
    ]) {
      assert.throws(() => validateBaseLocation(bad), invalid("base_location"), JSON.stringify(bad));
    }
  });
});

describe("pages", () => {
  it("caps page sizes and round-trips page tokens", () => {
    assert.equal(pageSize(0), 20);
    assert.equal(pageSize(5), 5);
    assert.equal(pageSize(1000), 100);
    const id = "0192f1a2-3b4c-7d5e-8f60-123456789abc";
    assert.equal(decodePageToken(encodePageToken(id)), id);
    assert.equal(decodePageToken(""), undefined);
    for (const bad of ["garbage", Buffer.from("v1:not-a-uuid").toString("base64url")])
      assert.throws(() => decodePageToken(bad), invalid("page_token"));
  });
});
