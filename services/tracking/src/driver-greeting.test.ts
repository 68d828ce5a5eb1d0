/** What an opening driver stream is told, and under which ids (plain rules, no servers). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { assignmentCommand, greetingCommands } from "./driver-greeting.js";
import type { TakenAwayNotice } from "./driver-notices.repository.js";
import type { Trip } from "./trip-directory.js";

const trip = (bookingId: string, activeSince: number, driverId = "driver-1"): Trip => ({
  bookingId,
  driverId,
  customerId: "customer-1",
  transporterId: "transporter-1",
  pickup: { lat: 18.52, lng: 73.85 },
  drop: { lat: 18.59, lng: 73.74 },
  vehicleId: "vehicle-1",
  pickupPlace: "Pune",
  dropPlace: "Hinjewadi",
  status: "assigned",
  active: true,
  activeSince,
  fired: new Set(),
  darkAt: undefined,
  version: 1,
});

const notice = (bookingId: string): TakenAwayNotice => ({
  bookingId,
  kind: "cancelled",
  reason: "plans changed",
  eventId: "01a25212-a5c2-74d1-8943-8c6ef9b76590",
  issuedAt: new Date(1_765_000_000_000),
});

describe("greetingCommands", () => {
  it("tells the trip taken away first, under its first id and time, then the trip the driver is on", () => {
    const commands = greetingCommands(trip("booking-2", 1_765_000_100_000), notice("booking-1"));
    assert.deepEqual(
      commands.map((c) => [c.kind?.$case, c.kind?.$case !== "reconnect" && c.kind?.value.bookingId]),
      [
        ["cancelled", "booking-1"],
        ["assignment", "booking-2"],
      ],
    );
    assert.equal(commands[0]!.commandId, "01a25212-a5c2-74d1-8943-8c6ef9b76590");
    assert.equal(commands[0]!.issuedAt?.getTime(), 1_765_000_000_000);
    assert.deepEqual(commands[0]!.kind, {
      $case: "cancelled",
      value: { bookingId: "booking-1", reason: "plans changed" },
    });
  });

  it("does not tell a trip taken away that the driver is on again", () => {
    const commands = greetingCommands(trip("booking-1", 1_765_000_100_000), notice("booking-1"));
    assert.deepEqual(
      commands.map((c) => c.kind?.$case),
      ["assignment"],
    );
  });

  it("tells nothing to a driver with no trip and nothing taken away; only the notice to one with no trip", () => {
    assert.deepEqual(greetingCommands(undefined, undefined), []);
    assert.deepEqual(
      greetingCommands(undefined, notice("booking-1")).map((c) => c.kind?.$case),
      ["cancelled"],
    );
  });
});

describe("assignmentCommand", () => {
  it("names one trip by one id, live and repeated, and a trip given back (a later start) or another driver's by another", () => {
    const live = assignmentCommand(trip("booking-1", 1_765_000_100_000));
    assert.equal(assignmentCommand(trip("booking-1", 1_765_000_100_000)).commandId, live.commandId);
    assert.match(live.commandId, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, "a UUIDv7");
    assert.equal(live.issuedAt?.getTime(), 1_765_000_100_000, "issued when the driver's trip began");
    assert.notEqual(assignmentCommand(trip("booking-1", 1_765_000_200_000)).commandId, live.commandId);
    assert.notEqual(assignmentCommand(trip("booking-1", 1_765_000_100_000, "driver-2")).commandId, live.commandId);
    assert.notEqual(assignmentCommand(trip("booking-2", 1_765_000_100_000)).commandId, live.commandId);
  });
});
