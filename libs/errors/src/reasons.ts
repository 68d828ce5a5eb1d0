/**
 * The catalog of error reasons: every stable reason a Weelo client can read (google.rpc.ErrorInfo
 * `reason`, the REST envelope's `error.code`, a socket error frame's `reason`), with the gRPC code
 * it travels with and what it means. Reasons are API: clients branch on them, so one is never
 * renamed or reused for another meaning; add a new one instead.
 *
 * The error classes accept only these keys (`Reason`), so the compiler proves every thrown reason
 * is catalogued; reasons.test.ts checks the places the compiler cannot see (errors built without
 * the classes, protovalidate rule ids in the protos). The API reference lists this catalog.
 */
import { GrpcCode } from "./codes.js";

export interface ReasonEntry {
  /** The gRPC code the reason travels with. */
  readonly code: GrpcCode;
  /** Other codes some method sends it with (kept for compatibility: codes are API too). */
  readonly alsoCodes?: readonly GrpcCode[];
  /** What happened and what the client should do, in one line. */
  readonly meaning: string;
  /**
   * Set when only one surface sends it: REST aliases (the gateway's envelope), the /socket feed,
   * or the service mesh (a service calling another; the public API never answers it).
   */
  readonly surface?: "rest" | "socket" | "mesh";
  /** The HTTP status of a REST-only reason, when it is not its code's (httpStatusOf). */
  readonly httpStatus?: number;
}

const {
  CANCELLED,
  UNKNOWN,
  INVALID_ARGUMENT,
  DEADLINE_EXCEEDED,
  NOT_FOUND,
  ALREADY_EXISTS,
  PERMISSION_DENIED,
  RESOURCE_EXHAUSTED,
  FAILED_PRECONDITION,
  ABORTED,
  OUT_OF_RANGE,
  UNIMPLEMENTED,
  INTERNAL,
  UNAVAILABLE,
  DATA_LOSS,
  UNAUTHENTICATED,
} = GrpcCode;

export const REASONS = {
  // The default reasons: an error without a reason of its own carries its code's name.
  CANCELLED: { code: CANCELLED, meaning: "The caller cancelled the call." },
  UNKNOWN: { code: UNKNOWN, meaning: "An error of unknown kind; treat as INTERNAL." },
  INVALID_ARGUMENT: { code: INVALID_ARGUMENT, meaning: "A request field is wrong; the details name it." },
  DEADLINE_EXCEEDED: { code: DEADLINE_EXCEEDED, meaning: "The call's deadline passed before it finished." },
  NOT_FOUND: { code: NOT_FOUND, meaning: "The thing asked for does not exist (or is not the caller's)." },
  ALREADY_EXISTS: { code: ALREADY_EXISTS, meaning: "The thing exists already, or someone else took it first." },
  PERMISSION_DENIED: { code: PERMISSION_DENIED, meaning: "The caller is known but may not do this." },
  RESOURCE_EXHAUSTED: { code: RESOURCE_EXHAUSTED, meaning: "A limit was hit; retry after `retryAfterSeconds`." },
  FAILED_PRECONDITION: { code: FAILED_PRECONDITION, meaning: "The request is valid but the current state forbids it." },
  ABORTED: { code: ABORTED, meaning: "The call lost a race with another change; retry it." },
  OUT_OF_RANGE: { code: OUT_OF_RANGE, meaning: "A value is past the end of what exists." },
  UNIMPLEMENTED: { code: UNIMPLEMENTED, meaning: "The method does not exist on this server." },
  INTERNAL: { code: INTERNAL, meaning: "A server fault; details stay in the server's log." },
  UNAVAILABLE: { code: UNAVAILABLE, meaning: "The server cannot answer now; retry with backoff." },
  DATA_LOSS: { code: DATA_LOSS, meaning: "Unrecoverable data loss; treat as INTERNAL." },
  UNAUTHENTICATED: { code: UNAUTHENTICATED, meaning: "No valid credentials came with the request: log in." },

  // Tokens, sessions and roles (every authenticated route).
  TOKEN_INVALID: {
    code: UNAUTHENTICATED,
    meaning: "The token is missing, malformed, signed by another key or not valid: log in again or refresh.",
  },
  TOKEN_EXPIRED: { code: UNAUTHENTICATED, meaning: "The token expired: refresh it (or log in again)." },
  SESSION_REVOKED: {
    code: UNAUTHENTICATED,
    meaning: "The session was ended (logout, block, removal, or a refresh token used twice): log in again.",
  },
  REFRESH_TOKEN_REUSED: {
    code: UNAUTHENTICATED,
    meaning: "A refresh token was used twice; the whole session is revoked: log in again.",
  },
  ROLE_NOT_ALLOWED: { code: PERMISSION_DENIED, meaning: "The caller's role may not call this method." },
  ACCOUNT_BLOCKED: { code: PERMISSION_DENIED, meaning: "The account is blocked; the user must contact support." },
  OPS_ROLE_REQUIRED: {
    code: PERMISSION_DENIED,
    meaning: "The operations console's API (OpsService) is for accounts of role ops only.",
  },
  MESH_IDENTITY_MISSING: {
    code: UNAUTHENTICATED,
    meaning: "An internal method was called without a mesh certificate naming the calling service.",
    surface: "mesh",
  },
  CALLER_NOT_ALLOWED: {
    code: PERMISSION_DENIED,
    meaning: "The calling service may not call this internal method.",
    surface: "mesh",
  },

  // Load, limits and dependencies (any route).
  RATE_LIMITED: {
    code: RESOURCE_EXHAUSTED,
    meaning: "Too many calls from this caller, phone or address: wait `retryAfterSeconds`.",
  },
  OVERLOADED: {
    code: RESOURCE_EXHAUSTED,
    alsoCodes: [UNAVAILABLE],
    meaning: "The gateway (RESOURCE_EXHAUSTED) or a service (UNAVAILABLE) sheds load: retry after `retryAfterSeconds`.",
  },
  TOO_MANY_STREAMS: {
    code: RESOURCE_EXHAUSTED,
    meaning: "The gateway holds as many open streams as it may: retry after `retryAfterSeconds`.",
  },
  DEPENDENCY_UNAVAILABLE: {
    code: UNAVAILABLE,
    meaning: "A backing service (database, cache, broker) is down: retry shortly.",
  },
  CACHE_UNAVAILABLE: { code: UNAVAILABLE, meaning: "The cache is unreachable: retry shortly." },
  PROVIDER_UNAVAILABLE: {
    code: UNAVAILABLE,
    meaning: "An outside provider failed or its circuit is open: retry shortly.",
  },
  PROVIDER_TIMEOUT: { code: UNAVAILABLE, meaning: "An outside provider did not answer in time: retry shortly." },
  SHUTTING_DOWN: { code: UNAVAILABLE, meaning: "The server is shutting down: reconnect (another one answers)." },

  // Malformed requests (any route).
  MALFORMED_REQUEST: { code: INVALID_ARGUMENT, meaning: "The request body could not be decoded as its message." },
  NUMBER_OUT_OF_RANGE: {
    code: INVALID_ARGUMENT,
    meaning: "A 64-bit integer is beyond ±2^53-1, which the services cannot hold exactly.",
  },
  PAYLOAD_TOO_LARGE: {
    code: RESOURCE_EXHAUSTED,
    meaning: "The REST body is larger than the gateway accepts.",
    surface: "rest",
    httpStatus: 413,
  },
  METHOD_NOT_ALLOWED: {
    code: UNIMPLEMENTED,
    meaning: "The REST path exists, but not with this HTTP method.",
    surface: "rest",
    httpStatus: 405,
  },
  VALIDATION_FAILED: {
    code: INVALID_ARGUMENT,
    meaning: "A field rule of the contract could not be evaluated on this request; the request is refused.",
  },
  TEXT_MALFORMED: { code: INVALID_ARGUMENT, meaning: "A text field is not valid Unicode (a broken surrogate pair)." },
  TEXT_CONTROL_CHARACTER: { code: INVALID_ARGUMENT, meaning: "A text field holds a control character." },
  TEXT_INVISIBLE_CHARACTER: {
    code: INVALID_ARGUMENT,
    meaning: "A text field holds an invisible direction or zero-width character.",
  },
  TEXT_LENGTH: { code: INVALID_ARGUMENT, meaning: "A text field is shorter or longer than allowed." },
  PHONE_INVALID: { code: INVALID_ARGUMENT, meaning: "The phone is not an Indian mobile number." },

  // Contract field rules (protovalidate rule ids named in the protos).
  VEHICLE_COUNT_OUT_OF_RANGE: {
    code: INVALID_ARGUMENT,
    meaning: "An order asks for fewer than 1 or more than 20 trucks.",
  },

  // Identity: OTP login and accounts.
  OTP_MALFORMED: { code: INVALID_ARGUMENT, meaning: "The OTP is not 6 digits." },
  OTP_INVALID: { code: UNAUTHENTICATED, meaning: "The OTP is wrong; the user may try again." },
  OTP_EXPIRED: {
    code: UNAUTHENTICATED,
    meaning: "No active OTP for this phone (expired, used or never sent): request a new one.",
  },
  OTP_ATTEMPTS_EXCEEDED: {
    code: UNAUTHENTICATED,
    meaning: "Too many wrong OTPs; this one is void: request a new one.",
  },
  OTP_COOLDOWN: { code: RESOURCE_EXHAUSTED, meaning: "An OTP was sent moments ago: wait `retryAfterSeconds`." },
  SMS_UNAVAILABLE: { code: UNAVAILABLE, meaning: "The SMS provider could not be reached: retry shortly." },
  USER_NOT_FOUND: { code: NOT_FOUND, meaning: "The account does not exist (any more)." },
  GSTIN_INVALID: {
    code: INVALID_ARGUMENT,
    meaning: "The GSTIN is malformed, names an unknown state or fails its check.",
  },
  DRIVER_NOT_REGISTERED: {
    code: PERMISSION_DENIED,
    meaning: "The phone is not a driver of any transporter (any more): the transporter must add it.",
  },
  OPS_PHONE_NOT_ALLOWED: {
    code: PERMISSION_DENIED,
    meaning: "The phone is not on the operations allow-list (OPS_PHONES): no OTP is sent for role ops.",
  },

  // Pricing: quotes.
  LOCATION_REQUIRED: { code: INVALID_ARGUMENT, meaning: "A pickup or drop point is missing." },
  LOCATION_INVALID: { code: INVALID_ARGUMENT, meaning: "A point lacks a numeric latitude and longitude." },
  OUTSIDE_SERVICE_AREA: { code: INVALID_ARGUMENT, meaning: "A point is outside the area Weelo serves." },
  TRIP_TOO_SHORT: { code: INVALID_ARGUMENT, meaning: "Pickup and drop are too close together for a truck trip." },
  VEHICLE_TYPE_REQUIRED: { code: INVALID_ARGUMENT, meaning: "The vehicle type is missing." },
  VEHICLE_TYPE_UNKNOWN: {
    code: INVALID_ARGUMENT,
    meaning: "The vehicle type is not offered; ListVehicleTypes names them.",
  },
  SCHEDULE_INVALID: { code: INVALID_ARGUMENT, meaning: "The pickup time is not a valid time." },
  SCHEDULE_IN_PAST: {
    code: INVALID_ARGUMENT,
    meaning: "The pickup time is in the past; leave it unset for a trip now.",
  },
  SCHEDULE_TOO_FAR: { code: INVALID_ARGUMENT, meaning: "The pickup time is further ahead than bookings may be made." },
  ROUTE_NOT_FOUND: { code: NOT_FOUND, meaning: "No road route joins pickup and drop." },
  ROUTING_UNAVAILABLE: { code: UNAVAILABLE, meaning: "The routing engine could not be reached: retry shortly." },
  CATALOG_UNAVAILABLE: { code: UNAVAILABLE, meaning: "The vehicle type catalog could not be read: retry shortly." },
  QUOTE_ID_INVALID: { code: INVALID_ARGUMENT, meaning: "The quote id is not a quote id." },
  QUOTE_INVALID: {
    code: INVALID_ARGUMENT,
    meaning: "The quote token is missing, malformed, tampered with or signed by another key: get a new quote.",
  },
  QUOTE_NOT_FOUND: { code: NOT_FOUND, meaning: "Pricing has no such quote: get a new quote." },
  QUOTE_NOT_YOURS: { code: PERMISSION_DENIED, meaning: "The quote was made for another customer." },
  QUOTE_EXPIRED: { code: FAILED_PRECONDITION, meaning: "The quote expired: get a new quote." },
  QUOTE_ALREADY_USED: { code: FAILED_PRECONDITION, meaning: "The quote was already redeemed by another booking." },

  // Booking: orders, trips and their codes.
  IDEMPOTENCY_KEY_REUSED: {
    code: INVALID_ARGUMENT,
    alsoCodes: [ALREADY_EXISTS],
    meaning:
      "The idempotency key was used before for a different request: use a new key (CreateBooking sends ALREADY_EXISTS).",
  },
  QUOTE_MISMATCH: {
    code: INVALID_ARGUMENT,
    meaning: "The booking's terms differ from the quote's: book with its terms.",
  },
  BOOKING_NOT_FOUND: { code: NOT_FOUND, meaning: "The booking does not exist or is not the caller's." },
  ORDER_NOT_FOUND: { code: NOT_FOUND, meaning: "The order does not exist or is not the caller's." },
  ILLEGAL_STATUS_TRANSITION: {
    code: FAILED_PRECONDITION,
    meaning: "The booking cannot move to that status from its current one.",
  },
  STATUS_NOT_ALLOWED: { code: INVALID_ARGUMENT, meaning: "The caller may not set that status." },
  NOT_ASSIGNED_DRIVER: { code: PERMISSION_DENIED, meaning: "Only the driver assigned to the trip may move it." },
  CANCELLATION_TOO_LATE: { code: FAILED_PRECONDITION, meaning: "The booking is too far along to be cancelled." },
  ALREADY_CANCELLED: { code: FAILED_PRECONDITION, meaning: "The booking is already cancelled." },
  PICKUP_CODE_INVALID: {
    code: INVALID_ARGUMENT,
    meaning: "The pickup code does not match the one the customer holds.",
  },
  DELIVERY_CODE_INVALID: {
    code: INVALID_ARGUMENT,
    meaning: "The delivery code does not match the one the customer holds.",
  },
  TRIP_CODE_LOCKED: {
    code: RESOURCE_EXHAUSTED,
    meaning: "Too many wrong pickup or delivery codes: wait `retryAfterSeconds`.",
  },
  TRANSPORTER_MISMATCH: { code: FAILED_PRECONDITION, meaning: "Another transporter confirmed the booking first." },

  // Dispatch: offers and assignment.
  OFFER_NOT_FOUND: { code: NOT_FOUND, meaning: "The offer does not exist or was not made to the caller." },
  OFFER_OPEN: { code: FAILED_PRECONDITION, meaning: "The offer is still open: accept or decline it first." },
  OFFER_CLOSED: { code: FAILED_PRECONDITION, meaning: "The offer expired, or its order was cancelled." },
  OFFER_DECLINED: { code: FAILED_PRECONDITION, meaning: "The caller declined this offer." },
  OFFER_ALREADY_ACCEPTED: { code: FAILED_PRECONDITION, meaning: "The caller already accepted this offer." },
  ALREADY_TAKEN: { code: FAILED_PRECONDITION, meaning: "Other transporters took every truck of the order." },
  NOT_ENOUGH_TRUCKS_OPEN: {
    code: FAILED_PRECONDITION,
    meaning: "Fewer trucks are still open than the caller asked to take.",
  },
  ALREADY_ASSIGNED: { code: FAILED_PRECONDITION, meaning: "The booking already has a driver and vehicle." },
  BOOKING_NOT_ASSIGNABLE: {
    code: FAILED_PRECONDITION,
    meaning: "The booking is past the point where a driver can be assigned.",
  },
  DRIVER_BUSY: { code: FAILED_PRECONDITION, meaning: "The driver is on another trip." },
  VEHICLE_BUSY: { code: FAILED_PRECONDITION, meaning: "The vehicle is on another trip." },
  DRIVER_NOT_LOGGED_IN: {
    code: FAILED_PRECONDITION,
    meaning: "The driver never logged in to the driver app: they must log in first.",
  },
  VEHICLE_TYPE_MISMATCH: { code: FAILED_PRECONDITION, meaning: "The vehicle is not of the type the booking asks for." },

  // Fleet: vehicles, drivers and availability.
  VEHICLE_NOT_FOUND: { code: NOT_FOUND, meaning: "The vehicle does not exist in the caller's fleet." },
  DRIVER_NOT_FOUND: { code: NOT_FOUND, meaning: "The driver does not exist in the caller's fleet." },
  VEHICLE_ALREADY_ADDED: { code: ALREADY_EXISTS, meaning: "The transporter already has this vehicle." },
  REGISTRATION_NUMBER_TAKEN: { code: ALREADY_EXISTS, meaning: "Another transporter registered this vehicle number." },
  REGISTRATION_NUMBER_INVALID: { code: INVALID_ARGUMENT, meaning: "The registration number is not an Indian one." },
  LICENCE_NUMBER_INVALID: { code: INVALID_ARGUMENT, meaning: "The driving licence number is malformed." },
  DRIVER_ALREADY_ADDED: { code: ALREADY_EXISTS, meaning: "The transporter already has this driver." },
  DRIVER_PHONE_TAKEN: { code: ALREADY_EXISTS, meaning: "The phone is a driver of another transporter." },
  DRIVER_ACCOUNT_NOT_LINKED: {
    code: FAILED_PRECONDITION,
    meaning: "The driver's login is not linked to a registered driver yet: log out and log in again.",
  },
  VEHICLE_IN_USE: { code: ALREADY_EXISTS, meaning: "Another driver is online with this vehicle." },
  VEHICLE_NOT_AVAILABLE: { code: FAILED_PRECONDITION, meaning: "The vehicle is in maintenance or inactive." },
  VEHICLE_ON_TRIP: { code: FAILED_PRECONDITION, meaning: "The vehicle is on a trip; it changes when the trip ends." },
  DRIVER_ON_TRIP: { code: FAILED_PRECONDITION, meaning: "The driver is on a trip; availability changes when it ends." },
  CONCURRENT_CHANGE: {
    code: FAILED_PRECONDITION,
    meaning: "Someone changed the record at the same time: read it and retry.",
  },

  // Tracking: trips, positions and the driver stream.
  TRIP_NOT_FOUND: { code: NOT_FOUND, meaning: "No trip of this booking is being tracked for the caller." },
  NOT_A_DRIVER: { code: FAILED_PRECONDITION, meaning: "The account is not a registered driver." },
  DRIVER_POSITION_UNKNOWN: {
    code: FAILED_PRECONDITION,
    meaning: "No position of the driver is known yet to check arrival.",
  },
  DRIVER_POSITION_STALE: {
    code: FAILED_PRECONDITION,
    meaning: "The driver's last position is too old to check arrival.",
  },
  NOT_AT_STOP: { code: FAILED_PRECONDITION, meaning: "The driver is not near the stop yet." },
  STREAM_BUFFER_FULL: {
    code: RESOURCE_EXHAUSTED,
    meaning: "The stream fell too far behind its commands: reconnect to re-sync.",
  },
  STREAM_REPLACED: { code: FAILED_PRECONDITION, meaning: "A newer stream of the same driver replaced this one." },

  // Notification.
  NOTIFICATION_NOT_FOUND: { code: NOT_FOUND, meaning: "The notification does not exist or is not the caller's." },
  PUSH_UNAVAILABLE: {
    code: UNAVAILABLE,
    meaning: "The push provider failed and no SMS fallback applies: retry later.",
  },

  // The /socket live feed.
  BAD_FRAME: {
    code: INVALID_ARGUMENT,
    meaning: "The frame is not a valid JSON frame of the protocol.",
    surface: "socket",
  },
  UNKNOWN_FRAME_TYPE: {
    code: INVALID_ARGUMENT,
    meaning: "The frame's type is not auth, subscribe, unsubscribe or ping.",
    surface: "socket",
  },
  TOO_MANY_FRAMES: { code: RESOURCE_EXHAUSTED, meaning: "The client sends frames too fast.", surface: "socket" },
  ALREADY_SUBSCRIBED: { code: ALREADY_EXISTS, meaning: "The socket already follows this booking.", surface: "socket" },
  TOO_MANY_SUBSCRIPTIONS: {
    code: RESOURCE_EXHAUSTED,
    meaning: "The socket follows as many bookings as it may.",
    surface: "socket",
  },
  OTHER_USER: {
    code: PERMISSION_DENIED,
    meaning: "A token of another user was sent on an authenticated socket.",
    surface: "socket",
  },
  FEED_ENDED: { code: UNAVAILABLE, meaning: "The booking's live feed ended: subscribe again.", surface: "socket" },
} as const satisfies Record<string, ReasonEntry>;

/** A catalogued reason. */
export type Reason = keyof typeof REASONS;

/** True for a catalogued reason (e.g. a reason read off the wire, or a rule id of a proto). */
export function isReason(text: string): text is Reason {
  return Object.hasOwn(REASONS, text);
}
