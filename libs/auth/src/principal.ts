/** Who is calling: the verified claims of an access token. */
export type Role = "customer" | "transporter" | "driver" | "ops";

/** Every role a token may carry; `ops` (the operations team) logs in only from an allow-listed phone. */
export const ROLES: readonly Role[] = ["customer", "transporter", "driver", "ops"];

export interface Principal {
  /** The user id (token subject). */
  readonly userId: string;
  readonly role: Role;
  /** The login session (refresh-token family) the token belongs to; logout revokes it. */
  readonly sessionId: string;
  /** For drivers: the transporter that registered them. */
  readonly transporterId?: string;
  /** When the access token expires (ms since epoch). */
  readonly expiresAt: number;
}
