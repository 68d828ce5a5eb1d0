import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import {
  CreateBookingRequestSchema,
  GetBookingRequestSchema,
} from "@weelo/contracts/es/weelo/booking/v1/booking_service_pb";
import {
  AcceptOfferRequestSchema,
  DeclineOfferRequestSchema,
} from "@weelo/contracts/es/weelo/dispatch/v1/dispatch_service_pb";
import { AddDriverRequestSchema, ListDriversRequestSchema } from "@weelo/contracts/es/weelo/fleet/v1/driver_service_pb";
import { FindServingTransportersRequestSchema } from "@weelo/contracts/es/weelo/fleet/v1/fleet_directory_service_pb";
import { UpdateTransporterProfileRequestSchema } from "@weelo/contracts/es/weelo/fleet/v1/transporter_service_pb";
import {
  AddVehicleRequestSchema,
  ListVehiclesRequestSchema,
  UpdateVehicleRequestSchema,
} from "@weelo/contracts/es/weelo/fleet/v1/vehicle_service_pb";
import { BlockUserRequestSchema } from "@weelo/contracts/es/weelo/identity/v1/account_admin_service_pb";
import { VerifyOtpRequestSchema } from "@weelo/contracts/es/weelo/identity/v1/auth_service_pb";
import { RemovePushTokensRequestSchema } from "@weelo/contracts/es/weelo/identity/v1/contact_directory_service_pb";
import { UpdateProfileRequestSchema } from "@weelo/contracts/es/weelo/identity/v1/profile_service_pb";
import { GetQuoteRequestSchema } from "@weelo/contracts/es/weelo/pricing/v1/pricing_service_pb";
import { RedeemQuoteRequestSchema } from "@weelo/contracts/es/weelo/pricing/v1/quote_redemption_service_pb";
import { GrpcCode, InvalidArgumentError } from "@weelo/errors";
import { requestCheck, statesRules } from "./index.js";

describe("request checks from the contracts' buf.validate rules", () => {
  it("hold vehicle_count to 1-20 with one stable reason on every request that carries it", () => {
    for (const schema of [CreateBookingRequestSchema, AcceptOfferRequestSchema, GetQuoteRequestSchema]) {
      const check = requestCheck(schema);
      assert.ok(check, `${schema.typeName} states rules`);
      const valid = (vehicleCount: number) => create(schema, { vehicleCount, weightKg: 500 } as never);
      for (const good of [1, 20]) assert.equal(check(valid(good)), undefined, `${schema.typeName} ${good}`);
      for (const bad of [0, -1, 21]) {
        const refusal = check(valid(bad));
        assert.ok(refusal instanceof InvalidArgumentError, `${schema.typeName} ${bad}`);
        assert.equal(refusal.code, GrpcCode.INVALID_ARGUMENT);
        assert.equal(refusal.reason, "VEHICLE_COUNT_OUT_OF_RANGE");
        assert.equal(refusal.field, "vehicle_count");
        assert.equal(refusal.message, "vehicle_count: must be 1 to 20");
      }
    }
  });

  it("list every wrong field; a standard rule's id is its BadRequest reason and INVALID_ARGUMENT the error's", () => {
    const check = requestCheck(CreateBookingRequestSchema)!;
    const weightOnly = check(create(CreateBookingRequestSchema, { vehicleCount: 2, weightKg: 0 }));
    assert.equal(weightOnly?.reason, "INVALID_ARGUMENT");
    assert.deepEqual(weightOnly?.violations, [
      {
        field: "weight_kg",
        description: "must be greater than or equal to 1 and less than or equal to 100000",
        reason: "int32.gte_lte",
      },
    ]);
    const both = check(create(CreateBookingRequestSchema, { vehicleCount: 30, weightKg: 100_001 }));
    assert.deepEqual(
      both?.violations.map((v) => v.field),
      ["vehicle_count", "weight_kg"],
    );
    assert.equal(both?.reason, "VEHICLE_COUNT_OUT_OF_RANGE", "the first violation's stable reason");
  });

  it("hold a truck's capacity to 100-60000 kg when added or changed, and a service radius to 1-500 km when given", () => {
    for (const schema of [AddVehicleRequestSchema, UpdateVehicleRequestSchema]) {
      const check = requestCheck(schema)!;
      for (const good of [100, 750, 60_000])
        assert.equal(check(create(schema, { capacityKg: good, vehicleType: "mini_truck" })), undefined);
      for (const bad of [0, 99, 60_001, -1]) {
        const refusal = check(create(schema, { capacityKg: bad, vehicleType: "mini_truck" }));
        assert.deepEqual([refusal?.field, refusal?.reason], ["capacity_kg", "INVALID_ARGUMENT"], `${bad}`);
      }
    }
    assert.equal(
      requestCheck(UpdateVehicleRequestSchema)!(create(UpdateVehicleRequestSchema, { vehicleId: "v" })),
      undefined,
      "an unset capacity is no change, not a violation",
    );
    const radius = requestCheck(UpdateTransporterProfileRequestSchema)!;
    assert.equal(radius(create(UpdateTransporterProfileRequestSchema, {})), undefined, "unset: no change");
    for (const good of [1, 500])
      assert.equal(radius(create(UpdateTransporterProfileRequestSchema, { serviceRadiusKm: good })), undefined);
    for (const bad of [0, 501])
      assert.equal(
        radius(create(UpdateTransporterProfileRequestSchema, { serviceRadiusKm: bad }))?.field,
        "service_radius_km",
      );
  });

  it("hold free text to its field's length in characters with the stable reason TEXT_LENGTH", () => {
    const profile = requestCheck(UpdateProfileRequestSchema)!;
    for (const [field, key, max] of [
      ["name", "name", 100],
      ["email", "email", 254],
      ["company_name", "companyName", 200],
    ] as const) {
      assert.equal(profile(create(UpdateProfileRequestSchema, { [key]: "x".repeat(max) })), undefined, field);
      const refusal = profile(create(UpdateProfileRequestSchema, { [key]: "x".repeat(max + 1) }));
      assert.ok(refusal instanceof InvalidArgumentError, field);
      assert.deepEqual([refusal.field, refusal.reason], [field, "TEXT_LENGTH"]);
      assert.equal(refusal.message, `${field}: must be at most ${max} characters`);
    }
    assert.equal(profile(create(UpdateProfileRequestSchema, {})), undefined, "unset: no change");
    // Characters, not UTF-16 units or bytes: 100 thumbs (200 units, 400 bytes) are a 100-character name.
    assert.equal(profile(create(UpdateProfileRequestSchema, { name: "👍".repeat(100) })), undefined);
    assert.equal(profile(create(UpdateProfileRequestSchema, { name: "अ".repeat(101) }))?.reason, "TEXT_LENGTH");

    const decline = requestCheck(DeclineOfferRequestSchema)!;
    assert.equal(decline(create(DeclineOfferRequestSchema, { reason: "x".repeat(200) })), undefined);
    assert.equal(decline(create(DeclineOfferRequestSchema, { reason: "x".repeat(201) }))?.reason, "TEXT_LENGTH");
    const driver = requestCheck(AddDriverRequestSchema)!;
    assert.equal(driver(create(AddDriverRequestSchema, { name: "x".repeat(101) }))?.field, "name");
  });

  it("hold an address's lines to their lengths wherever the address is sent, naming the nested field", () => {
    const check = requestCheck(CreateBookingRequestSchema)!;
    const booking = (pickup: Record<string, string>, extra: Record<string, unknown> = {}) =>
      create(CreateBookingRequestSchema, { vehicleCount: 1, weightKg: 500, pickup, ...extra } as never);
    assert.equal(
      check(booking({ line1: "x".repeat(200), city: "x".repeat(100), contactName: "x".repeat(100) })),
      undefined,
    );
    for (const [key, field, length] of [
      ["line1", "pickup.line1", 201],
      ["landmark", "pickup.landmark", 201],
      ["state", "pickup.state", 101],
      ["contactName", "pickup.contact_name", 101],
    ] as const) {
      const refusal = check(booking({ [key]: "x".repeat(length) }));
      assert.deepEqual([refusal?.field, refusal?.reason], [field, "TEXT_LENGTH"]);
    }
    assert.equal(check(booking({}, { notes: "x".repeat(501) }))?.field, "notes");
    assert.equal(check(booking({}, { goodsType: "x".repeat(101) }))?.field, "goods_type");
    const key = check(booking({}, { idempotencyKey: "k".repeat(101) }));
    assert.deepEqual([key?.field, key?.reason], ["idempotency_key", "INVALID_ARGUMENT"]);
    assert.equal(check(booking({}, { idempotencyKey: "k".repeat(100) })), undefined);
  });

  it("take an OTP of exactly six digits, with its stable reason OTP_MALFORMED", () => {
    const check = requestCheck(VerifyOtpRequestSchema)!;
    assert.equal(check(create(VerifyOtpRequestSchema, { otp: "012345" })), undefined);
    for (const bad of ["12345", "1234567", "12a456", "", " 123456", "١٢٣٤٥٦"]) {
      const refusal = check(create(VerifyOtpRequestSchema, { otp: bad }));
      assert.deepEqual([refusal?.field, refusal?.reason], ["otp", "OTP_MALFORMED"], JSON.stringify(bad));
      assert.equal(refusal?.message, "otp: must be the 6 digits sent by SMS");
    }
  });

  it("take an empty or six-digit PIN code, refuse negative page sizes, bound the serving search", () => {
    const booking = requestCheck(CreateBookingRequestSchema)!;
    const withPincode = (pincode: string) =>
      booking(create(CreateBookingRequestSchema, { vehicleCount: 1, weightKg: 500, drop: { pincode } }));
    for (const good of ["", "411001"]) assert.equal(withPincode(good), undefined, good);
    for (const bad of ["011001", "41100", "4110011", "41100a"])
      assert.deepEqual([withPincode(bad)?.field, withPincode(bad)?.reason], ["drop.pincode", "INVALID_ARGUMENT"], bad);

    const list = requestCheck(ListDriversRequestSchema)!;
    for (const good of [0, 1, 1000])
      assert.equal(list(create(ListDriversRequestSchema, { pageSize: good })), undefined);
    assert.deepEqual(
      [
        list(create(ListDriversRequestSchema, { pageSize: -1 }))?.field,
        list(create(ListDriversRequestSchema, { pageSize: -1 }))?.reason,
      ],
      ["page_size", "INVALID_ARGUMENT"],
    );

    const serving = requestCheck(FindServingTransportersRequestSchema)!;
    const find = (maxDistanceM: number, limit: number) =>
      serving(create(FindServingTransportersRequestSchema, { vehicleType: "mini_truck", maxDistanceM, limit }))?.field;
    assert.equal(find(0, 0), undefined);
    assert.equal(find(25_000, 500), undefined);
    assert.equal(find(-1, 10), "max_distance_m");
    assert.equal(find(Number.POSITIVE_INFINITY, 10), "max_distance_m");
    assert.equal(find(Number.NaN, 10), "max_distance_m");
    assert.equal(find(1000, 501), "limit");
    assert.equal(find(1000, -1), "limit");
  });

  it("bound the internal calls' fields: audit reasons, redemption keys, push tokens per removal", () => {
    const block = requestCheck(BlockUserRequestSchema)!;
    assert.equal(block(create(BlockUserRequestSchema, { reason: "x".repeat(500) })), undefined);
    assert.deepEqual(
      [
        block(create(BlockUserRequestSchema, { reason: "x".repeat(501) }))?.field,
        block(create(BlockUserRequestSchema, { reason: "x".repeat(501) }))?.reason,
      ],
      ["reason", "INVALID_ARGUMENT"],
    );
    const redeem = requestCheck(RedeemQuoteRequestSchema)!;
    assert.equal(redeem(create(RedeemQuoteRequestSchema, { redemptionKey: "k".repeat(200) })), undefined);
    for (const bad of ["", "k".repeat(201)])
      assert.equal(redeem(create(RedeemQuoteRequestSchema, { redemptionKey: bad }))?.field, "redemption_key");
    const remove = requestCheck(RemovePushTokensRequestSchema)!;
    const tokens = (n: number) =>
      create(RemovePushTokensRequestSchema, { pushTokens: Array.from({ length: n }, (_, i) => `t${i}`) });
    assert.equal(remove(tokens(100)), undefined);
    assert.equal(remove(tokens(101))?.field, "push_tokens");
  });

  it("take vehicle type ids of the catalog's shape; a list's filter may be empty", () => {
    const add = requestCheck(AddVehicleRequestSchema)!;
    const typed = (vehicleType: string) => add(create(AddVehicleRequestSchema, { vehicleType, capacityKg: 750 }));
    assert.equal(typed("mini_truck"), undefined);
    for (const bad of ["", "Mini Truck", "mini-truck", "x".repeat(51), " mini_truck"]) {
      assert.deepEqual([typed(bad)?.field, typed(bad)?.reason], ["vehicle_type", "INVALID_ARGUMENT"], bad);
      assert.equal(typed(bad)?.message, "vehicle_type: must be a vehicle type id from the catalog, e.g. mini_truck");
    }
    const list = requestCheck(ListVehiclesRequestSchema)!;
    assert.equal(list(create(ListVehiclesRequestSchema, { vehicleType: "" })), undefined, "no filter");
    assert.equal(list(create(ListVehiclesRequestSchema, { vehicleType: "Bad!" }))?.field, "vehicle_type");
    const update = requestCheck(UpdateVehicleRequestSchema)!;
    assert.equal(update(create(UpdateVehicleRequestSchema, {})), undefined, "unset: no change");
    assert.equal(update(create(UpdateVehicleRequestSchema, { vehicleType: "" }))?.field, "vehicle_type");
    const serving = requestCheck(FindServingTransportersRequestSchema)!;
    assert.equal(serving(create(FindServingTransportersRequestSchema, { vehicleType: "" }))?.field, "vehicle_type");
  });

  it("make no check for a request type whose proto states no rule (its calls pay nothing)", () => {
    assert.equal(statesRules(GetBookingRequestSchema), false);
    assert.equal(requestCheck(GetBookingRequestSchema), undefined);
    assert.equal(statesRules(GetQuoteRequestSchema), true);
  });
});
