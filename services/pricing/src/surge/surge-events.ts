/**
 * Turns bus messages into surge events, tolerating what it does not understand (ignored,
 * never fatal: surge then simply sees less). Two encodings are read:
 *
 * - a weelo.events.v1.EventEnvelope (protobuf), as fleet's and booking's outboxes publish:
 *   weelo.fleet.v1.DriverAvailabilityChanged on `fleet.driver.availability` (online or not,
 *   and the vehicle type; no position); weelo.booking.v1.BookingCreated on `booking.created`
 *   (one truck wanted at the pickup) and weelo.booking.v1.BookingStatusChanged on the other
 *   booking subjects (demand closes once the booking leaves PENDING/CONFIRMED; a reopened
 *   booking is not counted again: its event carries no pickup, and dispatch re-broadcasts it);
 * - a JSON object (optionally wrapped in `payload`, `data`, `booking` or `driver`), camelCase
 *   or snake_case, a location as {lat, lng} or flat fields, for services whose payloads are
 *   not fixed yet:
 *   - `booking.created` opens demand: {id|bookingId, vehicleType, pickup {lat, lng}, vehicleCount?};
 *   - `booking.cancelled`, `.expired`, `.assigned`, `.completed`, … close it: {id|bookingId};
 *     a `booking.<anything>` carrying a status closes it unless the status is still open
 *     (PENDING, CONFIRMED);
 *   - `fleet.driver.availability`: {driverId, vehicleType, online|available|status, location?};
 *   - `tracking.driver.location`: {driverId, location {lat, lng}} gives an online driver the
 *     position that makes them count.
 *
 * Subjects sit under each producer's subject root (BOOKING_SUBJECT_ROOT, …), as every other
 * consumer reads them. The pricing module subscribes to booking's only: supply comes from
 * tracking's CountAvailableDrivers (tracking-supply.ts), the driver subjects stay readable for
 * an in-memory picture fed by other means.
 */
import type { Bus, BusMessage, Subscription } from "@weelo/bus";
import { EventEnvelope } from "@weelo/contracts/grpc/weelo/events/v1/envelope";
import { BookingStatus } from "@weelo/contracts/grpc/weelo/booking/v1/booking";
import {
  BookingCreated,
  BookingStatusChanged,
  protobufPackage as bookingPackage,
} from "@weelo/contracts/grpc/weelo/booking/v1/events";
import {
  DriverAvailabilityChanged,
  protobufPackage as fleetPackage,
} from "@weelo/contracts/grpc/weelo/fleet/v1/events";
import type { Logger } from "@weelo/log";
import { isOnEarth } from "@weelo/formats";
import type { LatLngPoint } from "../routing/estimate.js";
import type { InMemorySurgeInputs, SurgeEvent } from "./surge-inputs.js";

/** The first subject token of each producer surge reads; a producer left out is not listened to. */
export interface SurgeSubjectRoots {
  booking: string;
  fleet?: string | undefined;
  tracking?: string | undefined;
}

/** The default roots: every producer, under its own name. */
export const DEFAULT_SURGE_ROOTS: SurgeSubjectRoots = { booking: "booking", fleet: "fleet", tracking: "tracking" };

/** The subjects surge listens to under the given roots. */
export function surgeSubjects(roots: SurgeSubjectRoots): string[] {
  return [
    `${roots.booking}.>`,
    ...(roots.fleet ? [`${roots.fleet}.driver.availability`] : []),
    ...(roots.tracking ? [`${roots.tracking}.driver.location`] : []),
  ];
}

const DRIVER_AVAILABILITY_TYPE = `${fleetPackage}.DriverAvailabilityChanged`;
const BOOKING_CREATED_TYPE = `${bookingPackage}.BookingCreated`;
const BOOKING_STATUS_CHANGED_TYPE = `${bookingPackage}.BookingStatusChanged`;
const OPEN_BOOKING_STATUSES = new Set([BookingStatus.BOOKING_STATUS_PENDING, BookingStatus.BOOKING_STATUS_CONFIRMED]);

const BOOKING_CLOSING_WORDS = new Set([
  "cancelled",
  "canceled",
  "expired",
  "assigned",
  "fully_assigned",
  "completed",
  "closed",
  "failed",
  "rejected",
  "deleted",
]);
const OPEN_STATUSES = new Set(["PENDING", "CONFIRMED", "SEARCHING", "BROADCASTING"]);

type Json = Record<string, unknown>;

/** The surge event a message means, or undefined when it means nothing to surge. */
export function parseSurgeEvent(
  subject: string,
  data: Uint8Array,
  roots: SurgeSubjectRoots = DEFAULT_SURGE_ROOTS,
): SurgeEvent | undefined {
  const body = parseObject(data);
  if (!body) return envelopeEvent(data);
  const tokens = subject.split(".");
  if (tokens[0] === roots.booking) return bookingEvent(tokens[1] ?? "", body);
  if (roots.fleet && subject === `${roots.fleet}.driver.availability`) return availabilityEvent(body);
  if (roots.tracking && subject === `${roots.tracking}.driver.location`) return locationEvent(body);
  return undefined;
}

/** An event in a protobuf EventEnvelope, by its payload type. */
function envelopeEvent(data: Uint8Array): SurgeEvent | undefined {
  let envelope: EventEnvelope;
  try {
    envelope = EventEnvelope.decode(data);
  } catch {
    return undefined;
  }
  const typeUrl = envelope.payload?.typeUrl ?? "";
  const payloadType = typeUrl.slice(typeUrl.lastIndexOf("/") + 1);
  const value = envelope.payload?.value;
  if (!value) return undefined;
  try {
    if (payloadType === DRIVER_AVAILABILITY_TYPE) {
      const change = DriverAvailabilityChanged.decode(value);
      if (!change.driverId) return undefined;
      if (!change.online || !change.vehicleType) return { kind: "driver_offline", driverId: change.driverId };
      return { kind: "driver_online", driverId: change.driverId, vehicleType: change.vehicleType };
    }
    if (payloadType === BOOKING_CREATED_TYPE) {
      const created = BookingCreated.decode(value);
      const location = created.pickup ? latLng({ lat: created.pickup.lat, lng: created.pickup.lng }) : undefined;
      if (!created.bookingId || !created.vehicleType || !location) return undefined;
      // One booking is one truck (an order of N trucks publishes N of these).
      return {
        kind: "booking_open",
        bookingId: created.bookingId,
        vehicleType: created.vehicleType,
        location,
        vehicles: 1,
      };
    }
    if (payloadType === BOOKING_STATUS_CHANGED_TYPE) {
      const change = BookingStatusChanged.decode(value);
      if (!change.bookingId || OPEN_BOOKING_STATUSES.has(change.to)) return undefined;
      return { kind: "booking_closed", bookingId: change.bookingId };
    }
  } catch {
    return undefined;
  }
  return undefined;
}

function bookingEvent(word: string, body: Json): SurgeEvent | undefined {
  const bookingId = text(body, "bookingId", "booking_id", "id", "orderId", "order_id");
  if (!bookingId) return undefined;
  const status = text(body, "status")
    ?.toUpperCase()
    .replace(/^BOOKING_STATUS_/, "");
  if (word === "created") {
    if (status !== undefined && !OPEN_STATUSES.has(status)) return { kind: "booking_closed", bookingId };
    const vehicleType = text(body, "vehicleType", "vehicle_type", "vehicleTypeId", "vehicle_type_id");
    const location = point(body, "pickup", "pickupLocation", "pickup_location");
    if (!vehicleType || !location) return undefined;
    const vehicles =
      integer(
        body,
        "vehiclesRemaining",
        "vehicles_remaining",
        "vehicleCount",
        "vehicle_count",
        "trucksNeeded",
        "trucks_needed",
      ) ?? 1;
    return { kind: "booking_open", bookingId, vehicleType, location, vehicles: Math.min(Math.max(vehicles, 1), 100) };
  }
  if (BOOKING_CLOSING_WORDS.has(word)) return { kind: "booking_closed", bookingId };
  if (status !== undefined && !OPEN_STATUSES.has(status)) return { kind: "booking_closed", bookingId };
  return undefined;
}

function availabilityEvent(body: Json): SurgeEvent | undefined {
  const driverId = text(body, "driverId", "driver_id", "id");
  if (!driverId) return undefined;
  const online = onlineFlag(body);
  if (online === undefined) return undefined;
  const vehicleType = text(body, "vehicleType", "vehicle_type", "vehicleTypeId", "vehicle_type_id");
  if (!online || !vehicleType) return { kind: "driver_offline", driverId };
  return {
    kind: "driver_online",
    driverId,
    vehicleType,
    location: point(body, "location", "position", "lastLocation", "last_location"),
  };
}

function locationEvent(body: Json): SurgeEvent | undefined {
  const driverId = text(body, "driverId", "driver_id");
  const location = point(body, "location", "position", "point") ?? latLng(body);
  return driverId && location ? { kind: "driver_location", driverId, location } : undefined;
}

function onlineFlag(body: Json): boolean | undefined {
  for (const key of ["online", "available", "isOnline", "is_online", "isAvailable", "is_available"]) {
    if (typeof body[key] === "boolean") return body[key];
  }
  const status = text(body, "status", "availability")?.toUpperCase();
  if (status === undefined) return undefined;
  if (/(^|_)(ONLINE|AVAILABLE)$/.test(status)) return true;
  if (/(^|_)(OFFLINE|UNAVAILABLE|BUSY|ON_TRIP)$/.test(status)) return false;
  return undefined;
}

/** The message as a JSON object, unwrapping one level of `payload`/`data`/`booking`/`driver`. */
function parseObject(data: Uint8Array): Json | undefined {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
  if (!isObject(value)) return undefined;
  for (const wrapper of ["payload", "data", "booking", "driver"]) {
    const inner = value[wrapper];
    if (isObject(inner)) return { ...value, ...inner };
  }
  return value;
}

const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);

function text(body: Json, ...keys: string[]): string | undefined {
  for (const key of keys) {
    const value = body[key];
    if (typeof value === "string" && value.trim() !== "") return value.trim();
  }
  return undefined;
}

function integer(body: Json, ...keys: string[]): number | undefined {
  for (const key of keys) {
    const value = Number(body[key]);
    if (body[key] !== undefined && body[key] !== null && Number.isInteger(value)) return value;
  }
  return undefined;
}

/** A point under one of the keys ({lat, lng}, {latitude, longitude}, or an Address's `location`), or flat `<key>Lat`/`<key>Lng`. */
function point(body: Json, ...keys: string[]): LatLngPoint | undefined {
  for (const key of keys) {
    const value = body[key];
    if (isObject(value)) {
      const found = latLng(value) ?? (isObject(value.location) ? latLng(value.location) : undefined);
      if (found) return found;
    }
    const flat = latLng({ lat: body[`${key}Lat`] ?? body[`${key}_lat`], lng: body[`${key}Lng`] ?? body[`${key}_lng`] });
    if (flat) return flat;
  }
  return undefined;
}

function latLng(value: Json): LatLngPoint | undefined {
  const lat = Number(value.lat ?? value.latitude);
  const lng = Number(value.lng ?? value.lon ?? value.longitude);
  if (value.lat === undefined && value.latitude === undefined) return undefined;
  if (!isOnEarth(lat, lng)) return undefined;
  return { lat, lng };
}

/** The bus handler: applies what it understands, ignores the rest (at debug level). */
export function surgeEventHandler(
  inputs: Pick<InMemorySurgeInputs, "apply">,
  logger: Logger,
  roots: SurgeSubjectRoots = DEFAULT_SURGE_ROOTS,
): (msg: BusMessage) => void {
  return (msg) => {
    let event: SurgeEvent | undefined;
    try {
      event = parseSurgeEvent(msg.subject, msg.data, roots);
    } catch (error) {
      logger.debug({ err: error, subject: msg.subject }, "surge: message could not be read; ignored");
      return;
    }
    if (!event) {
      logger.debug({ subject: msg.subject }, "surge: message not understood; ignored");
      return;
    }
    inputs.apply(event);
  };
}

/** Subscribes the surge inputs to the surge subjects under the roots; each replica hears every event (no queue group). */
export function subscribeSurgeEvents(
  bus: Bus,
  inputs: Pick<InMemorySurgeInputs, "apply">,
  logger: Logger,
  roots: SurgeSubjectRoots = DEFAULT_SURGE_ROOTS,
): Subscription[] {
  const handler = surgeEventHandler(inputs, logger, roots);
  return surgeSubjects(roots).map((subject) => bus.subscribe(subject, handler));
}
