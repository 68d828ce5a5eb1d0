/**
 * Indian data formats that several services read the same way. A format, not a business
 * rule: what counts as an Indian mobile number is the same for a login, a driver's record
 * and an address contact.
 */
import { InvalidArgumentError } from "@weelo/errors";

/**
 * Indian mobile numbers: ten digits starting 6–9, written bare, with +91 / 91, or with a
 * leading 0; spaces and dashes are tolerated. Returns E.164 (+91XXXXXXXXXX).
 */
export function normalizeIndianPhone(input: string, field = "phone"): string {
  const compact = input.replace(/[\s-]/g, "");
  const match = /^(?:\+91|91|0)?([6-9]\d{9})$/.exec(compact);
  if (!match) {
    throw new InvalidArgumentError(field, `${field} must be an Indian mobile number like 9876543210 or +919876543210`, {
      reason: "PHONE_INVALID",
    });
  }
  return `+91${match[1]}`;
}

/** A phone shown in logs: enough to correlate, not enough to call. */
export function maskPhone(e164: string): string {
  return `${e164.slice(0, 5)}*****${e164.slice(-2)}`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** True for a UUID in lower case (an id as the services store it). */
export function isUuid(id: string): boolean {
  return UUID.test(id);
}

/** Ids are UUIDs; anything else cannot name a row (and must not reach the database). */
export function validateId(id: string, field: string): string {
  const lower = id.trim().toLowerCase();
  if (!UUID.test(lower)) throw new InvalidArgumentError(field, `${field} must be an id as returned by the API`);
  return lower;
}

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

/**
 * The page size a list uses: the default for 0, capped at the maximum. A negative size never
 * gets here: the contract refuses it (weelo.common.v1.page_size) before a handler runs.
 */
export function pageSize(requested: number): number {
  if (requested <= 0) return DEFAULT_PAGE_SIZE;
  return Math.min(requested, MAX_PAGE_SIZE);
}

const PAGE_TOKEN_PREFIX = "v1:";

/** The opaque token of the page after the row with this id (lists are ordered by time-ordered id). */
export function encodePageToken(lastId: string): string {
  return Buffer.from(`${PAGE_TOKEN_PREFIX}${lastId}`).toString("base64url");
}

/**
 * One page out of the `limit + 1` rows a list query fetched: the first `limit`, and the token
 * of the next page when the extra row shows there is one.
 */
export function pageOf<T extends { id: string }>(rows: T[], limit: number): { items: T[]; nextPageToken: string } {
  const items = rows.slice(0, limit);
  return { items, nextPageToken: rows.length > limit ? encodePageToken(items[items.length - 1]!.id) : "" };
}

/** The id a page token continues after, or undefined for the first page. */
export function decodePageToken(token: string, field = "page_token"): string | undefined {
  if (token === "") return undefined;
  const text = Buffer.from(token, "base64url").toString("utf8");
  const id = text.startsWith(PAGE_TOKEN_PREFIX) ? text.slice(PAGE_TOKEN_PREFIX.length) : "";
  if (!UUID.test(id))
    throw new InvalidArgumentError(field, `${field} is not a token from this list; start again without one`);
  return id;
}

/**
 * A client's retry key: trimmed, empty meaning "no retry protection". How long it may be is the
 * contract's rule (string.max_len); control characters are refused here.
 */
export function validateIdempotencyKey(key: string, field = "idempotency_key"): string | null {
  const trimmed = key.trim();
  if (trimmed === "") return null;
  if (/\p{Cc}/u.test(trimmed)) throw new InvalidArgumentError(field, `${field} must not contain control characters`);
  return trimmed;
}

export { plainText, type PlainTextOptions } from "./text.js";
export { coordinateVerdict, isOnEarth } from "./coordinates.js";
