/** How values read on the page: statuses, times, money, ids. Pure, so the tests run it in Node. */
import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import { ActorRole, BookingStatus } from "@weelo/contracts/es/weelo/booking/v1/booking_pb";
import { Role } from "@weelo/contracts/es/weelo/common/v1/common_pb";
import { OfferStatus } from "@weelo/contracts/es/weelo/dispatch/v1/dispatch_pb";
import { AuditAction, AuditOutcome, ServiceStatus, TruckState } from "@weelo/contracts/es/weelo/ops/v1/ops_pb";

/** An enum value's name ("DRIVER_EN_ROUTE": protobuf-es drops the enum's prefix) as words: "driver en route". */
function words(name: string | undefined): string {
  return (name ?? "unknown").toLowerCase().replaceAll("_", " ");
}

export const statusName = (status: BookingStatus) => words(BookingStatus[status]);
export const offerStatusName = (status: OfferStatus) => words(OfferStatus[status]);
export const actorName = (role: ActorRole) => words(ActorRole[role]);
export const roleName = (role: Role) => words(Role[role]);
export const actionName = (action: AuditAction) => words(AuditAction[action]);
export const outcomeName = (outcome: AuditOutcome) => words(AuditOutcome[outcome]);
export const serviceStatusName = (status: ServiceStatus) => words(ServiceStatus[status]);

/** The bookings the map shows as pins and the board's "open" filter: not final yet. */
export const OPEN_STATUSES: readonly BookingStatus[] = [
  BookingStatus.PENDING,
  BookingStatus.CONFIRMED,
  BookingStatus.ASSIGNED,
  BookingStatus.DRIVER_EN_ROUTE,
  BookingStatus.AT_PICKUP,
  BookingStatus.IN_TRANSIT,
  BookingStatus.AT_DROPOFF,
];

/** Every status the board can filter on, in the order of a trip. */
export const ALL_STATUSES: readonly BookingStatus[] = [
  ...OPEN_STATUSES,
  BookingStatus.COMPLETED,
  BookingStatus.CANCELLED,
];

/** The map's colour of each truck state, and its legend's words. */
export const TRUCK_STATES = [
  { state: TruckState.FREE, label: "free", colour: "#1b9e4b" },
  { state: TruckState.OFFERED, label: "offered", colour: "#e08a00" },
  { state: TruckState.ON_TRIP, label: "on a trip", colour: "#2563eb" },
] as const;

export function truckColour(state: TruckState): string {
  return TRUCK_STATES.find((s) => s.state === state)?.colour ?? "#6b7280";
}

export function truckStateName(state: TruckState): string {
  return TRUCK_STATES.find((s) => s.state === state)?.label ?? "unknown";
}

/** "07 Dec 14:05:09" in the browser's time zone; "—" when unset. */
export function time(value: Timestamp | undefined): string {
  if (!value) return "—";
  const date = timestampDate(value);
  const day = date.toLocaleDateString("en-GB", { day: "2-digit", month: "short" });
  const clock = date.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  return `${day} ${clock}`;
}

/** "14:00" for an hour of the funnel. */
export function hour(value: Timestamp | undefined): string {
  if (!value) return "—";
  return timestampDate(value).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
}

/** Paise as rupees: 123456n → "₹1,234.56". */
export function rupees(paise: bigint | number): string {
  const value = Number(paise) / 100;
  return `₹${value.toLocaleString("en-IN", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

/** Metres as "850 m" or "12.4 km". */
export function distance(metres: number): string {
  return metres < 1000 ? `${Math.round(metres)} m` : `${(metres / 1000).toFixed(1)} km`;
}

/** The last 8 characters of a UUIDv7 (its random part): enough to tell bookings apart on a screen. */
export function shortId(id: string): string {
  return id.length > 8 ? `…${id.slice(-8)}` : id;
}
