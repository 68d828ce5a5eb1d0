export { startBooking, type BookingModule, type BookingModuleOptions } from "./booking.module.js";
export {
  loadBookingConfig,
  bookingConfigSchema,
  bookingProductionRules,
  bookingStandaloneProductionRules,
  type BookingConfig,
} from "./booking.config.js";
export {
  BOOKING_CREATED_EVENT,
  BOOKING_STATUS_CHANGED_EVENT,
  BOOKING_CANCELLED_EVENT,
  BOOKING_REOPENED_EVENT,
  BOOKING_EXPIRED_EVENT,
  BOOKING_CREATED_PAYLOAD_TYPE,
  BOOKING_STATUS_CHANGED_PAYLOAD_TYPE,
} from "./booking.events.js";
export type { ArrivalCheck, BookingService, QuoteRedemption, RedeemedQuote } from "./booking.service.js";
/** Its schema migrations, for the migrate one-shot (system/src/migrate.ts). */
export { bookingMigrations } from "./migrations/index.js";
