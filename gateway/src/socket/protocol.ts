/**
 * The /socket protocol: JSON text frames, one object each, with a `type`.
 *
 * Client → server
 *   {"type":"auth","token":"<access token>"}        first frame when the token is not in the URL
 *                                                   (?access_token=…); later, a fresh token of the
 *                                                   same user keeps the socket open past expiry
 *   {"type":"subscribe","bookingId":"…","afterSequence":"12"?}   follow a booking (status + truck)
 *   {"type":"unsubscribe","bookingId":"…"}
 *   {"type":"ping"}                                 for clients that cannot send WebSocket pings
 *
 * Server → client
 *   {"type":"ready","userId","role","expiresAt"}    authenticated (again after each auth frame)
 *   {"type":"subscribed","bookingId","sequence","booking":{…}}   the booking as it is now
 *   {"type":"status","bookingId","sequence","change":{…}}       each status change after it
 *   {"type":"location","bookingId","position":{…}}              each position of the truck
 *   {"type":"unsubscribed","bookingId"}
 *   {"type":"error","code","reason","message","bookingId"?,"channel"?}  never silence
 *   {"type":"pong"}
 *
 * Message bodies are the protobuf JSON of the services' messages (as in the REST aliases).
 * Close codes: 1012 server restarting (reconnect), 1013 too many sockets (retry later),
 * 1008 frames keep coming after being refused (flood), 4401 not authenticated / token expired /
 * session ended, 4408 no auth frame in time,
 * 4413 slow consumer (too much unsent), 1009 frame too large, 1011 internal error.
 */

import { codeName, DomainError } from "@weelo/errors";
import type { RawData } from "ws";

export const CLOSE = {
  restarting: 1012,
  tryAgainLater: 1013,
  policy: 1008,
  tooLarge: 1009,
  internal: 1011,
  unauthenticated: 4401,
  authTimeout: 4408,
  slowConsumer: 4413,
} as const;

export type ClientFrame =
  | { type: "auth"; token: string }
  | { type: "subscribe"; bookingId: string; afterSequence?: string | number }
  | { type: "unsubscribe"; bookingId: string }
  | { type: "ping" };

export interface ErrorFrame {
  type: "error";
  /** gRPC-style code name: INVALID_ARGUMENT, UNAUTHENTICATED, NOT_FOUND, RESOURCE_EXHAUSTED, … */
  code: string;
  /** Stable machine-readable reason, e.g. BAD_FRAME, TRIP_NOT_FOUND. */
  reason: string;
  message: string;
  bookingId?: string;
  /** Which feed of a subscription failed: "status" or "location". */
  channel?: "status" | "location";
}

/** A frame-level fault: answered with an error frame, the socket stays open. */
export class FrameError extends Error {
  constructor(
    readonly code: string,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

const BOOKING_ID = /^[A-Za-z0-9-]{1,64}$/;

/** Parses and checks one client frame; throws FrameError for anything that is not one. */
export function parseClientFrame(data: string): ClientFrame {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    throw new FrameError("INVALID_ARGUMENT", "BAD_FRAME", "the frame is not valid JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new FrameError("INVALID_ARGUMENT", "BAD_FRAME", "a frame must be a JSON object with a type");
  }
  const frame = parsed as Record<string, unknown>;
  switch (frame.type) {
    case "auth":
      if (typeof frame.token !== "string" || frame.token === "")
        throw new FrameError("INVALID_ARGUMENT", "BAD_FRAME", "an auth frame needs a token");
      return { type: "auth", token: frame.token };
    case "subscribe":
    case "unsubscribe": {
      if (typeof frame.bookingId !== "string" || !BOOKING_ID.test(frame.bookingId)) {
        throw new FrameError("INVALID_ARGUMENT", "BAD_FRAME", `a ${frame.type} frame needs a bookingId`);
      }
      if (frame.type === "unsubscribe") return { type: "unsubscribe", bookingId: frame.bookingId };
      const after = frame.afterSequence;
      if (
        after !== undefined &&
        !(
          (typeof after === "number" && Number.isSafeInteger(after) && after >= 0) ||
          (typeof after === "string" && /^\d{1,19}$/.test(after))
        )
      ) {
        throw new FrameError("INVALID_ARGUMENT", "BAD_FRAME", "afterSequence must be a non-negative integer");
      }
      return after === undefined
        ? { type: "subscribe", bookingId: frame.bookingId }
        : { type: "subscribe", bookingId: frame.bookingId, afterSequence: after as string | number };
    }
    case "ping":
      return { type: "ping" };
    default:
      throw new FrameError(
        "INVALID_ARGUMENT",
        "UNKNOWN_FRAME_TYPE",
        'type must be one of "auth", "subscribe", "unsubscribe", "ping"',
      );
  }
}

/** The error frame of a refusal: a frame error, a service's DomainError, or (anything else) INTERNAL. */
export function toErrorFrame(error: unknown): Omit<ErrorFrame, "type"> {
  if (error instanceof FrameError) return { code: error.code, reason: error.reason, message: error.message };
  if (error instanceof DomainError) return { code: codeName(error.code), reason: error.reason, message: error.message };
  return { code: "INTERNAL", reason: "INTERNAL", message: "internal error" };
}

/** The text of a WebSocket message, however ws delivered it. */
export function rawText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString("utf8");
  if (Array.isArray(data)) return Buffer.concat(data).toString("utf8");
  return Buffer.from(data).toString("utf8");
}
