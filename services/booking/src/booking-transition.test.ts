/**
 * transition() itself enforces the status table: a change the table does not allow is refused
 * before anything is read or written, whichever use case asks for it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DomainError } from "@weelo/errors";
import { createTransitions } from "./booking-transition.js";
import { BOOKING_STATUS_CHANGED_EVENT } from "./booking.events.js";
import { isLegalTransition, TRANSITIONS } from "./booking.rules.js";
import { BOOKING_STATUSES, type BookingRow } from "./booking.table.js";

/** A database that fails the test if a refused change reaches it. */
const untouchable = new Proxy({} as never, {
  get: () => assert.fail("an illegal transition reached the database"),
});

describe("transition()", () => {
  const { transition } = createTransitions({
    db: untouchable,
    now: () => new Date(),
    root: "booking",
    events: { subjectRoot: "booking", committed: () => assert.fail("nothing was committed") },
    logger: untouchable,
  });

  it("refuses every change the transition table does not allow with ILLEGAL_STATUS_TRANSITION", async () => {
    let refused = 0;
    for (const from of BOOKING_STATUSES)
      for (const to of BOOKING_STATUSES) {
        if (isLegalTransition(from, to)) continue;
        const booking = { id: "0190c0de-0000-7000-8000-000000000001", status: from } as BookingRow;
        await assert.rejects(
          transition({ booking, to, actorRole: "dispatch", actorId: "", event: BOOKING_STATUS_CHANGED_EVENT }),
          (error: unknown) => error instanceof DomainError && error.reason === "ILLEGAL_STATUS_TRANSITION",
        );
        refused++;
      }
    // Every pair but the table's (completed → pending, in_transit → cancelled, pending → pending, …).
    const legal = Object.values(TRANSITIONS).flat().length;
    assert.equal(refused, BOOKING_STATUSES.length ** 2 - legal);
    assert.ok(refused > 60);
  });
});
