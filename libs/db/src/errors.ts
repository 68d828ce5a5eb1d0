/**
 * Recognising the Postgres errors that callers act on. pg's DatabaseError and PGlite's error
 * both carry the SQLSTATE in `.code` and the violated constraint's name in `.constraint`.
 */

/** SQLSTATE codes this library names. */
export const PgErrorCode = {
  uniqueViolation: "23505",
  foreignKeyViolation: "23503",
  serializationFailure: "40001",
  deadlockDetected: "40P01",
  duplicateSchema: "42P06",
  /** Permission denied: a runtime role reaching outside its grants (DDL, another schema). */
  insufficientPrivilege: "42501",
} as const;

/** The SQLSTATE of a database error, or undefined for anything else. */
export function pgErrorCode(error: unknown): string | undefined {
  if (error === null || typeof error !== "object") return undefined;
  const code = (error as { code?: unknown }).code;
  // Node's own errors carry codes too (ECONNREFUSED, ERR_...): SQLSTATEs are 5 characters.
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/**
 * True when the error is a unique violation (23505), optionally of one named constraint
 * (e.g. "users_phone_key"), so a repository can turn it into an "already exists" answer.
 */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  if (pgErrorCode(error) !== PgErrorCode.uniqueViolation) return false;
  return constraint === undefined || (error as { constraint?: unknown }).constraint === constraint;
}

/** True when a serializable or repeatable-read transaction lost a race (40001): retry it. */
export function isSerializationFailure(error: unknown): boolean {
  return pgErrorCode(error) === PgErrorCode.serializationFailure;
}
