/** A driver stream's queue held behind its greeting (no servers: an in-memory sink). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { DriverCommand } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking";
import type { StreamLocationResponse } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_service";
import { DriverStream } from "./driver-streams.js";

const command = (bookingId: string, kind: "assignment" | "cancelled"): DriverCommand => ({
  commandId: `${kind}-${bookingId}`,
  issuedAt: new Date(0),
  kind:
    kind === "assignment"
      ? {
          $case: "assignment",
          value: { bookingId, vehicleId: "", pickup: undefined, drop: undefined, pickupAddress: "", dropAddress: "" },
        }
      : { $case: "cancelled", value: { bookingId, reason: "" } },
});

function written(stream: DriverStream): string[] {
  const out: string[] = [];
  void stream.pipeTo({
    write: (message: StreamLocationResponse) => {
      out.push(
        message.kind?.$case === "command" ? message.kind.value.commandId : `ack ${message.kind?.value.ackedSeq}`,
      );
      return true;
    },
    onDrain: () => undefined,
    onGone: () => undefined,
  });
  return out;
}

describe("DriverStream's greeting", () => {
  it("holds commands sent live until the greeting is told, then writes the greeting first; acks still go", () => {
    const stream = new DriverStream("driver-1", 10);
    const out = written(stream);
    stream.holdCommands();
    stream.pushCommand(command("B", "assignment"));
    stream.pushAck(1, 0);
    assert.deepEqual(out, ["ack 1"]);
    stream.tellFirst([command("A", "cancelled"), command("B", "assignment")]);
    assert.deepEqual(out, ["ack 1", "cancelled-A", "assignment-B", "assignment-B"]);
    stream.pushCommand(command("C", "cancelled"));
    assert.deepEqual(out.at(-1), "cancelled-C", "after the greeting, commands go at once");
  });

  it("still writes held commands when the stream ends before its greeting (a drain's ReconnectCommand)", () => {
    const stream = new DriverStream("driver-1", 10);
    const out = written(stream);
    stream.holdCommands();
    stream.pushCommand(command("B", "assignment"));
    stream.end();
    assert.deepEqual(out, ["assignment-B"]);
    stream.tellFirst([command("A", "cancelled")]);
    assert.deepEqual(out, ["assignment-B"], "an ended stream takes nothing more");
  });
});
