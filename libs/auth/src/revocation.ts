/**
 * Revoked sessions live in the shared cache until their longest access token has expired, so
 * every replica of every service refuses a logged-out token on its next use.
 */
export interface RevocationStore {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, options: { ttlMs: number }): Promise<void>;
}

export class RevocationList {
  constructor(
    private readonly store: RevocationStore,
    /** How long a revocation must be remembered: the access-token lifetime. */
    private readonly rememberMs: number,
  ) {}

  async revoke(sessionId: string): Promise<void> {
    await this.store.set(key(sessionId), "1", { ttlMs: this.rememberMs });
  }

  async isRevoked(sessionId: string): Promise<boolean> {
    return (await this.store.get(key(sessionId))) !== undefined;
  }
}

const key = (sessionId: string) => `revoked-session:${sessionId}`;
