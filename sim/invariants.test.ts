/** The end-of-run checks, each given a clean run and the ways it can go wrong. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  checkExclusiveTrips,
  checkOverAcceptance,
  checkPointsStored,
  checkProgress,
  checkTerminal,
  checkWatchOrder,
  describeSeqs,
  occupation,
  type FinalBooking,
  type HistoryEntry,
  type Status,
  type WatchMessage,
} from "./invariants.js";

const TRIP: Status[] = [
  "PENDING",
  "CONFIRMED",
  "ASSIGNED",
  "DRIVER_EN_ROUTE",
  "AT_PICKUP",
  "IN_TRANSIT",
  "AT_DROPOFF",
  "COMPLETED",
];

/** A booking whose history walks the given statuses, one second apart from `start`. */
function booking(
  id: string,
  statuses: Status[],
  extra: Partial<FinalBooking> = {},
  start = 0,
  reopenedAt: number[] = [],
): FinalBooking {
  const history: HistoryEntry[] = statuses.map((to, i) => ({
    sequence: i + 1,
    from: i === 0 ? undefined : statuses[i - 1],
    to,
    at: start + i * 1000,
    reopened: reopenedAt.includes(i + 1),
  }));
  return { id, orderId: "o1", status: statuses.at(-1)!, driverId: "", vehicleId: "", history, ...extra };
}

/** The watch stream of a booking that saw its state at `from` and every change after it. */
function watched(b: FinalBooking, from = 1): WatchMessage[] {
  const state = b.history[from - 1]!;
  return [
    { kind: "state", sequence: state.sequence, status: state.to },
    ...b.history.slice(from).map((h) => ({ kind: "change" as const, sequence: h.sequence, from: h.from, to: h.to })),
  ];
}

describe("invariants", () => {
  it("every booking terminal or explained", () => {
    const done = booking("b1", TRIP);
    const open = booking("b2", ["PENDING"]);
    assert.deepEqual(checkTerminal([done, booking("b3", ["PENDING", "CANCELLED"])], new Map()), []);
    assert.deepEqual(checkTerminal([open], new Map([["b2", "still in broadcast"]])), []);
    const [violation] = checkTerminal([done, open], new Map());
    assert.equal(violation?.bookingId, "b2");
    assert.match(violation!.message, /PENDING with nothing to explain it/);
  });

  it("no order accepted beyond its trucks, no booking handed out twice without a reopen", () => {
    const orders = new Map([["o1", { vehicleCount: 2, bookingIds: ["b1", "b2"] }]]);
    const finals = [booking("b1", ["PENDING", "CONFIRMED"]), booking("b2", ["PENDING", "CONFIRMED"])];
    const fine = [
      { orderId: "o1", transporter: "t1", bookingIds: ["b1"], at: 1 },
      { orderId: "o1", transporter: "t2", bookingIds: ["b2"], at: 2 },
    ];
    assert.deepEqual(checkOverAcceptance(orders, fine, finals), []);

    const twice = [...fine, { orderId: "o1", transporter: "t3", bookingIds: ["b1"], at: 3 }];
    const violations = checkOverAcceptance(orders, twice, finals);
    assert.equal(violations.length, 1);
    assert.match(
      violations[0]!.message,
      /booking b1 of order o1 was handed to 2 acceptances but reopened only 0 times/,
    );

    const reopened = [booking("b1", ["PENDING", "CONFIRMED", "PENDING", "CONFIRMED"], {}, 0, [3]), finals[1]!];
    assert.deepEqual(checkOverAcceptance(orders, twice, reopened), [], "a reopened booking may be accepted again");

    const foreign = checkOverAcceptance(
      orders,
      [{ orderId: "o1", transporter: "t1", bookingIds: ["b1", "b2", "b9"], at: 1 }],
      finals,
    );
    assert.ok(foreign.some((v) => /b9, which is not one of its bookings/.test(v.message)));
    assert.ok(foreign.some((v) => /order o1 of 2 trucks had 3 bookings accepted/.test(v.message)));
    assert.match(checkOverAcceptance(new Map(), fine, finals)[0]!.message, /no customer of this run booked/);
  });

  it("no driver or vehicle on two active trips at once, by the server's history times", () => {
    const first = booking("b1", TRIP, { driverId: "d1", vehicleId: "v1" }, 0); // ASSIGNED at 2 s, COMPLETED at 7 s
    assert.deepEqual(occupation(first), { from: 2000, to: 7000 });
    const after = booking("b2", TRIP, { driverId: "d1", vehicleId: "v1" }, 6000); // ASSIGNED at 8 s
    assert.deepEqual(checkExclusiveTrips([first, after]), []);

    const overlapping = booking("b3", TRIP, { driverId: "d1", vehicleId: "v2" }, 3000); // ASSIGNED at 5 s
    const violations = checkExclusiveTrips([first, overlapping]);
    assert.equal(violations.length, 1);
    assert.match(violations[0]!.message, /driver d1 was on bookings b1 and b3 at once/);

    const stillOpen = booking(
      "b4",
      ["PENDING", "CONFIRMED", "ASSIGNED", "DRIVER_EN_ROUTE"],
      { driverId: "d2", vehicleId: "v1" },
      100_000,
    );
    const late = booking("b5", TRIP, { driverId: "d3", vehicleId: "v1" }, 200_000);
    assert.match(
      checkExclusiveTrips([stillOpen, late])[0]!.message,
      /vehicle v1 was on bookings b4 and b5 at once/,
      "an unfinished trip holds its vehicle",
    );

    const cancelled = booking(
      "b6",
      ["PENDING", "CONFIRMED", "ASSIGNED", "CANCELLED"],
      { driverId: "d4", vehicleId: "v4" },
      0,
    );
    const next = booking("b7", TRIP, { driverId: "d4", vehicleId: "v4" }, 2000); // ASSIGNED at 4 s, b6 ended at 3 s
    assert.deepEqual(checkExclusiveTrips([cancelled, next]), []);
    assert.equal(occupation(booking("b8", ["PENDING"])), undefined);
  });

  it("every acknowledged point of a trip is in its stored path", () => {
    assert.deepEqual(checkPointsStored([{ bookingId: "b1", acked: [3, 4, 5], stored: [1, 3, 4, 5, 9] }]), []);
    assert.deepEqual(
      checkPointsStored([{ bookingId: "b2", acked: [], stored: undefined }]),
      [],
      "no acknowledged points, nothing to find",
    );
    const [missing] = checkPointsStored([{ bookingId: "b1", acked: [3, 4, 5, 6, 7, 10], stored: [3, 7] }]);
    assert.match(missing!.message, /4 of 6 acknowledged points missing from the stored path \(seq 4-6, 10\)/);
    assert.match(
      checkPointsStored([{ bookingId: "b3", acked: [1], stored: undefined }])[0]!.message,
      /could not be read/,
    );
    assert.equal(describeSeqs([9, 1, 2, 3, 5]), "1-3, 5, 9");
  });

  it("every status change seen in order on the customer's watch stream, across reconnects", () => {
    const b = booking("b1", TRIP);
    assert.deepEqual(checkWatchOrder(b, watched(b)), []);
    assert.deepEqual(checkWatchOrder(b, watched(b, 3)), [], "a stream opened later starts from the state then");

    const reconnected = watched(b);
    reconnected.splice(4, 0, { kind: "state", sequence: 6, status: "IN_TRANSIT" }); // a new stream resumes after change 4
    assert.deepEqual(checkWatchOrder(b, reconnected), []);

    const gap = watched(b).filter((m) => m.sequence !== 5);
    assert.match(checkWatchOrder(b, gap)[0]!.message, /change 6 arrived after change 4 \(expected 5\)/);
    const swapped = watched(b);
    [swapped[3], swapped[4]] = [swapped[4]!, swapped[3]!];
    assert.equal(checkWatchOrder(b, swapped).length, 1);
    const duplicated = watched(b);
    duplicated.splice(3, 0, duplicated[2]!);
    assert.match(checkWatchOrder(b, duplicated)[0]!.message, /change 3 arrived after change 3/);
    const wrong = watched(b).map((m) =>
      m.kind === "change" && m.sequence === 4 ? { ...m, to: "AT_PICKUP" as Status } : m,
    );
    assert.match(checkWatchOrder(b, wrong)[0]!.message, /change 4 said AT_PICKUP, the history says DRIVER_EN_ROUTE/);
    const stopped = watched(b).slice(0, 5);
    assert.match(
      checkWatchOrder(b, stopped)[0]!.message,
      /stopped at change 5 \(AT_PICKUP\); the history goes on with 6:IN_TRANSIT, 7:AT_DROPOFF, 8:COMPLETED/,
    );
    // The history was read while the trip went on: changes after the read cannot be checked, and are no violation.
    const readEarly = { ...b, history: b.history.filter((h) => h.sequence <= 5) };
    assert.deepEqual(checkWatchOrder(readEarly, watched(b)), []);
    const beyondAfterGap = [...watched(b).slice(0, 4), ...watched(b).slice(5)];
    assert.match(checkWatchOrder(readEarly, beyondAfterGap)[0]!.message, /change 6 arrived after change 4/);
    assert.match(checkWatchOrder(b, [])[0]!.message, /delivered nothing/);
    assert.match(checkWatchOrder(b, watched(b).slice(1))[0]!.message, /did not start with the booking's state/);
  });

  it("the marketplace completed something when it had orders and trucks", () => {
    assert.deepEqual(checkProgress([booking("b1", TRIP), booking("b2", ["PENDING", "CANCELLED"])], 3), []);
    assert.deepEqual(checkProgress([], 3), []);
    const [idle] = checkProgress(
      [booking("b1", ["PENDING"]), booking("b2", ["PENDING"]), booking("b3", ["PENDING", "CANCELLED"])],
      3,
    );
    assert.match(
      idle!.message,
      /none of 3 bookings was completed with 3 trucks in the city \(2 PENDING, 1 CANCELLED\)/,
    );
  });
});
