import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DomainError } from "@weelo/errors";
import {
  broadcastAt,
  canonicalJson,
  cancellationFee,
  checkDispatchStep,
  checkReopen,
  checkRequestMatchesQuote,
  codeMatches,
  decodePageToken,
  DISPATCH_REOPENABLE,
  distanceMeters,
  encodePageToken,
  isLegalTransition,
  PARTICIPANT_REOPENABLE,
  planCustomerCancellation,
  planDriverStep,
  relationTo,
  requestHash,
  TRANSITIONS,
  validateAddress,
  validateScheduledAt,
} from "./booking.rules.js";
import { BOOKING_STATUSES, type BookingStatus } from "./booking.table.js";

const reasonOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof DomainError, String(error));
    return error.reason;
  }
  assert.fail("expected a refusal");
};

const DRIVER_PATH: [BookingStatus, BookingStatus][] = [
  ["assigned", "driver_en_route"],
  ["driver_en_route", "at_pickup"],
  ["at_pickup", "in_transit"],
  ["in_transit", "at_dropoff"],
  ["at_dropoff", "completed"],
];

describe("the status machine", () => {
  it("lets the assigned driver make each trip step from exactly its one status", () => {
    for (const [from, to] of DRIVER_PATH) {
      assert.doesNotThrow(() => planDriverStep(from, to, "driver"), `${from} → ${to}`);
      for (const other of BOOKING_STATUSES.filter((s) => s !== from)) {
        assert.equal(
          reasonOf(() => planDriverStep(other, to, "driver")),
          "ILLEGAL_STATUS_TRANSITION",
          `${other} → ${to}`,
        );
      }
    }
  });

  it("asks for the pickup code at IN_TRANSIT and the delivery code at COMPLETED only", () => {
    assert.deepEqual(
      DRIVER_PATH.map(([from, to]) => planDriverStep(from, to, "driver").code),
      [undefined, undefined, "pickup", undefined, "delivery"],
    );
  });

  it("names the current and the requested status in a refusal", () => {
    try {
      planDriverStep("pending", "in_transit", "driver");
      assert.fail("expected a refusal");
    } catch (error) {
      assert.match(String((error as Error).message), /PENDING.*IN_TRANSIT/);
    }
  });

  it("refuses trip steps from the customer or transporter, and statuses drivers never set", () => {
    assert.equal(
      reasonOf(() => planDriverStep("assigned", "driver_en_route", "transporter")),
      "NOT_ASSIGNED_DRIVER",
    );
    assert.equal(
      reasonOf(() => planDriverStep("assigned", "driver_en_route", "customer")),
      "NOT_ASSIGNED_DRIVER",
    );
    for (const to of ["pending", "confirmed", "assigned", "cancelled"] as const) {
      assert.equal(
        reasonOf(() => planDriverStep("assigned", to, "driver")),
        "STATUS_NOT_ALLOWED",
      );
    }
  });

  it("lets dispatch confirm a PENDING booking and assign a CONFIRMED one, nothing else", () => {
    for (const status of BOOKING_STATUSES) {
      if (status === "pending") assert.doesNotThrow(() => checkDispatchStep(status, "confirmed"));
      else
        assert.equal(
          reasonOf(() => checkDispatchStep(status, "confirmed")),
          "ILLEGAL_STATUS_TRANSITION",
        );
      if (status === "confirmed") assert.doesNotThrow(() => checkDispatchStep(status, "assigned"));
      else
        assert.equal(
          reasonOf(() => checkDispatchStep(status, "assigned")),
          "ILLEGAL_STATUS_TRANSITION",
        );
    }
  });

  it("reopens CONFIRMED/ASSIGNED for dispatch, and up to AT_PICKUP for a transporter or driver", () => {
    for (const status of BOOKING_STATUSES) {
      assert.equal(DISPATCH_REOPENABLE.includes(status), ["confirmed", "assigned"].includes(status));
      if (PARTICIPANT_REOPENABLE.includes(status))
        assert.doesNotThrow(() => checkReopen(status, PARTICIPANT_REOPENABLE));
      else
        assert.equal(
          reasonOf(() => checkReopen(status, PARTICIPANT_REOPENABLE)),
          "ILLEGAL_STATUS_TRANSITION",
        );
    }
  });

  it("keeps the transition table consistent with the step rules", () => {
    for (const [from, to] of DRIVER_PATH) assert.ok(isLegalTransition(from, to));
    assert.ok(isLegalTransition("pending", "confirmed") && isLegalTransition("confirmed", "assigned"));
    for (const status of PARTICIPANT_REOPENABLE) assert.ok(isLegalTransition(status, "pending"));
    assert.deepEqual(TRANSITIONS.completed, []);
    assert.deepEqual(TRANSITIONS.cancelled, []);
    assert.ok(!isLegalTransition("in_transit", "cancelled"));
  });
});

describe("cancellation", () => {
  const rule = { percentBps: 1000, minPaise: 10_000 };

  it("is free while PENDING or CONFIRMED", () => {
    assert.equal(planCustomerCancellation("pending", 500_000, rule).feePaise, 0);
    assert.equal(planCustomerCancellation("confirmed", 500_000, rule).feePaise, 0);
  });

  it("costs the fee from ASSIGNED until loading", () => {
    for (const status of ["assigned", "driver_en_route", "at_pickup"] as const)
      assert.equal(planCustomerCancellation(status, 500_000, rule).feePaise, 50_000);
  });

  it("is refused at and after IN_TRANSIT, and when already cancelled", () => {
    for (const status of ["in_transit", "at_dropoff", "completed"] as const)
      assert.equal(
        reasonOf(() => planCustomerCancellation(status, 1, rule)),
        "CANCELLATION_TOO_LATE",
      );
    assert.equal(
      reasonOf(() => planCustomerCancellation("cancelled", 1, rule)),
      "ALREADY_CANCELLED",
    );
  });

  it("takes a share of the fare, at least the minimum, never more than the fare", () => {
    assert.equal(cancellationFee(500_000, rule), 50_000);
    assert.equal(cancellationFee(50_000, rule), 10_000);
    assert.equal(cancellationFee(5_000, rule), 5_000);
    assert.equal(cancellationFee(123_457, rule), 12_345);
  });
});

describe("who sees a booking", () => {
  const booking = { customer_id: "c", transporter_id: "t", driver_user_id: "d" };
  it("is its customer, transporter and driver, each in their role", () => {
    assert.equal(relationTo(booking, { role: "customer", userId: "c" }), "customer");
    assert.equal(relationTo(booking, { role: "transporter", userId: "t" }), "transporter");
    assert.equal(relationTo(booking, { role: "driver", userId: "d" }), "driver");
    assert.equal(relationTo(booking, { role: "transporter", userId: "c" }), undefined);
    assert.equal(relationTo(booking, { role: "customer", userId: "x" }), undefined);
    assert.equal(
      relationTo({ customer_id: "c", transporter_id: null, driver_user_id: null }, { role: "driver", userId: "d" }),
      undefined,
    );
  });
});

describe("the request against its quote", () => {
  const quote = {
    vehicleType: "lcv_14ft",
    vehicleCount: 2,
    pickup: { lat: 19.076, lng: 72.8777 },
    drop: { lat: 19.2183, lng: 72.9781 },
    scheduledAt: undefined,
  };
  it("accepts the same terms, with points within the tolerance", () => {
    assert.doesNotThrow(() =>
      checkRequestMatchesQuote(quote, { ...quote, pickup: { lat: 19.0763, lng: 72.8777 } }, 50),
    );
  });
  it("refuses another vehicle type, count, far point or time", () => {
    assert.equal(
      reasonOf(() => checkRequestMatchesQuote(quote, { ...quote, vehicleType: "mini_truck" }, 50)),
      "QUOTE_MISMATCH",
    );
    assert.equal(
      reasonOf(() => checkRequestMatchesQuote(quote, { ...quote, vehicleCount: 3 }, 50)),
      "QUOTE_MISMATCH",
    );
    assert.equal(
      reasonOf(() => checkRequestMatchesQuote(quote, { ...quote, drop: { lat: 19.2193, lng: 72.9781 } }, 50)),
      "QUOTE_MISMATCH",
    );
    assert.equal(
      reasonOf(() => checkRequestMatchesQuote(quote, { ...quote, scheduledAt: new Date() }, 50)),
      "QUOTE_MISMATCH",
    );
  });
  it("measures distances in metres", () => {
    const d = distanceMeters({ lat: 19, lng: 72 }, { lat: 19.001, lng: 72 });
    assert.ok(d > 110 && d < 112, String(d));
  });
});

describe("validation and helpers", () => {
  it("normalizes contact phones and requires a contact name", () => {
    const base = {
      line1: "1 Road",
      line2: "",
      landmark: "",
      city: "Pune",
      state: "MH",
      pincode: "411001",
      location: { lat: 18.5, lng: 73.8 },
      contactName: "Ravi",
      contactPhone: "09876543210",
    };
    assert.equal(validateAddress(base, "pickup").contactPhone, "+919876543210");
    assert.equal(
      reasonOf(() => validateAddress({ ...base, contactName: " " }, "pickup")),
      "INVALID_ARGUMENT",
    );
    assert.equal(
      reasonOf(() => validateAddress({ ...base, location: undefined }, "pickup")),
      "INVALID_ARGUMENT",
    );
  });
  it("keeps schedules in the future and within the window, and broadcasts them ahead", () => {
    const now = new Date("2026-01-01T00:00:00Z");
    assert.equal(
      reasonOf(() => validateScheduledAt(new Date("2025-12-31T23:00:00Z"), now, 7)),
      "INVALID_ARGUMENT",
    );
    assert.equal(
      reasonOf(() => validateScheduledAt(new Date("2026-01-09T00:00:00Z"), now, 7)),
      "INVALID_ARGUMENT",
    );
    assert.equal(broadcastAt(new Date("2026-01-02T00:00:00Z"), now, 30).toISOString(), "2026-01-01T23:30:00.000Z");
    assert.equal(broadcastAt(new Date("2026-01-01T00:10:00Z"), now, 30).getTime(), now.getTime());
    assert.equal(broadcastAt(undefined, now, 30).getTime(), now.getTime());
  });
  it("hashes requests canonically", () => {
    assert.equal(canonicalJson({ b: 1, a: { d: undefined, c: [1, 2] } }), '{"a":{"c":[1,2]},"b":1}');
    assert.equal(requestHash({ a: 1, b: 2 }), requestHash({ b: 2, a: 1 }));
    assert.notEqual(requestHash({ a: 1 }), requestHash({ a: 2 }));
  });
  it("compares codes exactly", () => {
    assert.ok(codeMatches("0420", "0420"));
    assert.ok(codeMatches("0420", " 0420 "));
    assert.ok(!codeMatches("0420", "420"));
    assert.ok(!codeMatches("0420", "0421"));
  });
  it("round-trips page tokens and refuses foreign ones", () => {
    const id = "01900000-0000-7000-8000-000000000000";
    assert.equal(decodePageToken(encodePageToken(id)), id);
    assert.equal(
      reasonOf(() => decodePageToken("garbage")),
      "INVALID_ARGUMENT",
    );
  });
});
