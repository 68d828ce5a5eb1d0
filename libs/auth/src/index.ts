export { loadKeyMaterial, generateKeyPair, JWT_ALGORITHM, type KeyMaterial, type KeySettings } from "./keys.js";
export { writeFileOnce } from "./write-once.js";
export { ROLES, type Principal, type Role } from "./principal.js";
export { RevocationList, type RevocationStore } from "./revocation.js";
export {
  TokenIssuer,
  TokenVerifier,
  bearerToken,
  DEFAULT_TOKEN_SETTINGS,
  CLOCK_SKEW_SECONDS,
  type TokenSettings,
  type IssuedToken,
  type RefreshClaims,
} from "./tokens.js";
export {
  SessionWatch,
  SESSION_REVOKED_SUBJECT,
  type SessionRevoked,
  type SessionWatchOptions,
  type NoticeBus,
  type RevokedListener,
  type RevokedWatcher,
} from "./session-watch.js";
