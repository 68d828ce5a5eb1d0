/**
 * What suites outside this package need to read booking's own tables (the system's suites that
 * run booking with the real pricing): the schema's types and its migrations. Not for production code.
 */
export type { BookingDatabase } from "./booking.table.js";
export { bookingMigrations } from "./migrations/index.js";
