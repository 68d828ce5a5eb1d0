/**
 * Fleet's business rules as plain functions: what valid registration numbers, phones,
 * licences, capacities and locations are, which status changes a transporter may make, what a
 * driver may do with their availability, and the shape of page tokens. No I/O here.
 */
import { FailedPreconditionError, InvalidArgumentError } from "@weelo/errors";
import { isOnEarth, plainText } from "@weelo/formats";
import type { DriverStatus, VehicleStatus } from "./fleet.table.js";

/** State and union-territory codes of Indian registrations and driving licences (old codes included). */
export const INDIAN_STATE_CODES: ReadonlySet<string> = new Set([
  "AN",
  "AP",
  "AR",
  "AS",
  "BR",
  "CG",
  "CH",
  "DD",
  "DL",
  "DN",
  "GA",
  "GJ",
  "HP",
  "HR",
  "JH",
  "JK",
  "KA",
  "KL",
  "LA",
  "LD",
  "MH",
  "ML",
  "MN",
  "MP",
  "MZ",
  "NL",
  "OD",
  "OR",
  "PB",
  "PY",
  "RJ",
  "SK",
  "TG",
  "TN",
  "TR",
  "TS",
  "UA",
  "UK",
  "UP",
  "WB",
]);

/** Upper case without spaces, dashes, dots or slashes: how people write numbers on forms. */
function compact(input: string): string {
  return input.replace(/[\s\-./]/g, "").toUpperCase();
}

/** State series: state code, RTO number (1–2 digits), series (1–3 letters), number (4 digits). */
const STATE_SERIES = /^([A-Z]{2})(\d{1,2})([A-Z]{1,3})(\d{4})$/;
/** Bharat series: year (2 digits, 2021 on), "BH", number (4 digits), letters (1–2). */
const BHARAT_SERIES = /^(\d{2})BH(\d{4})([A-Z]{1,2})$/;

/**
 * Indian registration numbers, normalized to upper case without separators: state series
 * such as MH12AB1234, DL1CAB1234 and KA01A1234, and Bharat series such as 22BH1234AA.
 * The digits are kept as written (DL1C… and DL01C… are different strings).
 */
export function normalizeRegistrationNumber(input: string, field = "registration_number"): string {
  const number = compact(input);
  const refuse = (why: string) =>
    new InvalidArgumentError(
      field,
      `${field} ${why}; use the form MH12AB1234 (state series) or 22BH1234AA (Bharat series)`,
      {
        reason: "REGISTRATION_NUMBER_INVALID",
      },
    );
  const bharat = BHARAT_SERIES.exec(number);
  if (bharat) {
    if (Number(bharat[1]) < 21) throw refuse(`is a Bharat series number with a year before 2021`);
    if (bharat[2] === "0000") throw refuse("has the number 0000");
    return number;
  }
  const state = STATE_SERIES.exec(number);
  if (!state) throw refuse(number === "" ? "is required" : `"${input.trim()}" is not an Indian registration number`);
  if (!INDIAN_STATE_CODES.has(state[1]!)) throw refuse(`starts with "${state[1]}", which is not an Indian state code`);
  if (Number(state[2]) === 0) throw refuse("has the RTO number 0");
  if (state[4] === "0000") throw refuse("has the number 0000");
  return number;
}

// Phones are a shared format; re-exported so fleet's rules read as one list.
export {
  maskPhone,
  normalizeIndianPhone,
  validateId,
  pageSize,
  encodePageToken,
  pageOf,
  decodePageToken,
  DEFAULT_PAGE_SIZE,
  MAX_PAGE_SIZE,
} from "@weelo/formats";

/**
 * Driving licence numbers, checked loosely (formats differ by state and by year of issue):
 * a state code, the RTO number (2 digits), then 7 to 14 letters and digits, e.g.
 * "MH12 20110012345" → "MH1220110012345".
 */
export function normalizeLicenceNumber(input: string, field = "licence_number"): string {
  const licence = compact(input);
  const match = /^([A-Z]{2})(\d{2})([0-9A-Z]{7,14})$/.exec(licence);
  if (!match || !INDIAN_STATE_CODES.has(match[1]!)) {
    throw new InvalidArgumentError(field, `${field} must be an Indian driving licence number like MH12 20110012345`, {
      reason: "LICENCE_NUMBER_INVALID",
    });
  }
  return licence;
}

// How long a name or make/model may be is its field's rule in the contract
// (weelo.common.v1.text_max_len); control characters are plainText's to refuse.
export function validateDriverName(name: string, field = "name"): string {
  const trimmed = plainText(name, field).replace(/\s+/g, " ");
  if (trimmed === "") throw new InvalidArgumentError(field, `${field} must not be blank`);
  refuseAngleBrackets(trimmed, field);
  return trimmed;
}

export function validateMakeModel(makeModel: string, field = "make_model"): string {
  const trimmed = plainText(makeModel, field).replace(/\s+/g, " ");
  refuseAngleBrackets(trimmed, field);
  return trimmed;
}

function refuseAngleBrackets(text: string, field: string): void {
  if (/[<>]/.test(text)) throw new InvalidArgumentError(field, `${field} must not contain angle brackets`);
}

export { validateIdempotencyKey } from "@weelo/formats";

/** Upper-case word of a status for messages, e.g. "ON_TRIP". */
export const statusWord = (status: string) => status.toUpperCase();

/** Statuses a transporter may set; ON_TRIP belongs to the trip. */
export const TRANSPORTER_SETTABLE_STATUSES: readonly VehicleStatus[] = ["available", "maintenance", "inactive"];
/** Statuses a transporter may change a vehicle from, or delete it in. */
export const TRANSPORTER_CHANGEABLE_STATUSES: readonly VehicleStatus[] = ["available", "maintenance", "inactive"];

/** Refuses a status the transporter may not set. */
export function validateStatusTarget(to: VehicleStatus): VehicleStatus {
  if (!TRANSPORTER_SETTABLE_STATUSES.includes(to)) {
    throw new InvalidArgumentError(
      "status",
      "status ON_TRIP is set when a trip starts; choose AVAILABLE, MAINTENANCE or INACTIVE",
    );
  }
  return to;
}

/** Why a vehicle in `current` status cannot move to `to` (or be deleted), or undefined when it can. */
export function vehicleChangeRefusal(
  registration: string,
  current: VehicleStatus,
  action: { to: VehicleStatus } | "delete",
): FailedPreconditionError | undefined {
  if (TRANSPORTER_CHANGEABLE_STATUSES.includes(current)) return undefined;
  const what = action === "delete" ? "it cannot be deleted" : `it cannot be set ${statusWord(action.to)}`;
  return new FailedPreconditionError(`vehicle ${registration} is ${statusWord(current)}; ${what} until the trip ends`, {
    reason: "VEHICLE_ON_TRIP",
  });
}

/** A status change that takes the vehicle off the road: its online driver goes offline. */
export const takesVehicleOffTheRoad = (to: VehicleStatus) => to !== "available";

/** Why a driver in `current` status cannot be removed, or undefined when they can. */
export function driverRemovalRefusal(name: string, current: DriverStatus): FailedPreconditionError | undefined {
  if (current !== "on_trip") return undefined;
  return new FailedPreconditionError(`driver ${name} is ON_TRIP; they can be removed when the trip ends`, {
    reason: "DRIVER_ON_TRIP",
  });
}

/** What a SetAvailability call does to a driver in a given state. */
export type AvailabilityPlan = { kind: "claim"; vehicleId: string } | { kind: "release" } | { kind: "unchanged" };

/**
 * Plans a SetAvailability call from the driver's current state. Going online needs a vehicle;
 * asking for the state one is already in changes nothing (a retry is harmless); a driver on
 * a trip keeps their vehicle until the trip ends.
 */
export function planAvailability(
  current: { status: DriverStatus; vehicleId: string | null },
  request: { online: boolean; vehicleId: string | null },
): AvailabilityPlan {
  if (current.status === "on_trip") {
    throw new FailedPreconditionError("you are ON_TRIP; your availability changes when the trip ends", {
      reason: "DRIVER_ON_TRIP",
    });
  }
  if (!request.online) return current.status === "offline" ? { kind: "unchanged" } : { kind: "release" };
  if (!request.vehicleId) throw new InvalidArgumentError("vehicle_id", "vehicle_id is required to go online");
  if (current.status === "online" && current.vehicleId === request.vehicleId) return { kind: "unchanged" };
  return { kind: "claim", vehicleId: request.vehicleId };
}

/** Why a vehicle cannot be driven now, or undefined when it can. */
export function vehicleDrivableRefusal(
  registration: string,
  status: VehicleStatus,
): FailedPreconditionError | undefined {
  if (status === "available") return undefined;
  return new FailedPreconditionError(
    `vehicle ${registration} is ${statusWord(status)}; only an AVAILABLE vehicle can be driven`,
    {
      reason: "VEHICLE_NOT_AVAILABLE",
    },
  );
}

export const DEFAULT_SERVICE_RADIUS_KM = 50;
/**
 * The largest service radius, which bounds the search for nearby fleets. Requests are held to
 * 1-500 by the contract (UpdateTransporterProfileRequest.service_radius_km) and the table by its CHECK.
 */
export const MAX_SERVICE_RADIUS_KM = 500;

/** India's bounding box (with a margin): a base outside it is a typo, such as swapped lat and lng. */
const INDIA = { minLat: 6, maxLat: 37.5, minLng: 68, maxLng: 97.5 };

export function validateBaseLocation(
  location: { lat: number; lng: number },
  field = "base_location",
): { lat: number; lng: number } {
  const { lat, lng } = location;
  if (!isOnEarth(lat, lng)) {
    throw new InvalidArgumentError(field, `${field} must have lat from -90 to 90 and lng from -180 to 180`);
  }
  if (lat < INDIA.minLat || lat > INDIA.maxLat || lng < INDIA.minLng || lng > INDIA.maxLng) {
    throw new InvalidArgumentError(
      field,
      `${field} must be in India (lat ${INDIA.minLat} to ${INDIA.maxLat}, lng ${INDIA.minLng} to ${INDIA.maxLng})`,
    );
  }
  return { lat, lng };
}
