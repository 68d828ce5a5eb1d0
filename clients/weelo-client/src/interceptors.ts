/**
 * Interceptors every app wants: idempotency keys made for the caller, and retries of transient
 * failures for the calls that are safe to repeat.
 */
import { MethodOptions_IdempotencyLevel as Idempotency } from "@bufbuild/protobuf/wkt";
import type { Interceptor } from "@connectrpc/connect";
import { backoffMs } from "./backoff.js";
import { errorFacts, isTransient } from "./errors.js";
import { pause } from "./streams.js";

/** A random UUID v4: crypto.randomUUID where there is one, else crypto.getRandomValues (React Native with its polyfill). */
export function newIdempotencyKey(): string {
  const crypto = (
    globalThis as {
      crypto?: { randomUUID?: () => string; getRandomValues?: (bytes: Uint8Array) => Uint8Array };
    }
  ).crypto;
  if (crypto?.randomUUID) return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  if (!crypto?.getRandomValues)
    throw new Error("no crypto.getRandomValues: install a polyfill (react-native-get-random-values)");
  crypto.getRandomValues(bytes);
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

type Keyed = { idempotencyKey?: unknown };

/**
 * Fills an empty `idempotency_key` (CreateBooking, AddVehicle, AddDriver) with a new key, once
 * per call: the SDK's retries of that call carry the same key, so the server does it once. An
 * app that retries a call itself (after a restart, say) passes its own key.
 */
export function idempotencyInterceptor(): Interceptor {
  return (next) => async (request) => {
    if (!request.stream && request.method.input.fields.some((field) => field.localName === "idempotencyKey")) {
      const message = request.message as Keyed;
      if (message.idempotencyKey === "") message.idempotencyKey = newIdempotencyKey();
    }
    return next(request);
  };
}

export interface RetryOptions {
  /** Tries of one call in all. Default 4. */
  attempts?: number;
  /** The first wait is from this to twice this (at random), each next one twice as long. Default 200 ms. */
  initialBackoffMs?: number;
  /** Longest wait (a server's Retry-After is honoured up to this). Default 5000 ms. */
  maxBackoffMs?: number;
}

/**
 * Repeats a unary call after a transient failure (unavailable, overloaded, deadline) when
 * repeating cannot do a thing twice: a read (NO_SIDE_EFFECTS), an IDEMPOTENT method, or a
 * request with an idempotency key. Other calls fail at once for the app to decide.
 */
export function retryInterceptor(options: RetryOptions): Interceptor {
  const { attempts = 4, initialBackoffMs = 200, maxBackoffMs = 5000 } = options;
  return (next) => async (request) => {
    const keyed = !request.stream && Boolean((request.message as Keyed).idempotencyKey);
    const safe = request.method.idempotency !== Idempotency.IDEMPOTENCY_UNKNOWN || keyed;
    if (request.stream || !safe) return next(request);
    for (let attempt = 1; ; attempt++) {
      try {
        return await next(request);
      } catch (error) {
        if (attempt >= attempts || !isTransient(error) || request.signal.aborted) throw error;
        const hinted = (errorFacts(error).retryAfterSeconds ?? 0) * 1000;
        const wait = backoffMs(attempt - 1, initialBackoffMs * 2, maxBackoffMs);
        await pause(Math.min(Math.max(wait, hinted), maxBackoffMs), request.signal);
      }
    }
  };
}
