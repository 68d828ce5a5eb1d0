/**
 * Profiles are read on every app start (GetMe) and change rarely: they are cached for a
 * minute in the shared cache and dropped on every write. A read racing a write can put the
 * old row back for at most the TTL; profile fields tolerate that, tokens and sessions never
 * come from here.
 */
import type { UserRow } from "./identity.table.js";

export interface UserCacheStore {
  getJson<T>(key: string): Promise<T | undefined>;
  setJson(key: string, value: unknown, options?: { ttlMs?: number }): Promise<void>;
  del(...keys: string[]): Promise<number>;
}

type CachedUser = Omit<UserRow, "created_at" | "updated_at" | "blocked_at"> & {
  created_at: string;
  updated_at: string;
  blocked_at?: string | null;
};

export class UserCache {
  constructor(
    private readonly store: UserCacheStore,
    private readonly ttlMs = 60_000,
  ) {}

  /** The user from the cache, or from `load` (then cached). */
  async get(id: string, load: () => Promise<UserRow | undefined>): Promise<UserRow | undefined> {
    const cached = await this.store.getJson<CachedUser>(key(id));
    if (cached) {
      const blockedAt = cached.blocked_at ? new Date(cached.blocked_at) : null;
      return {
        ...cached,
        blocked_reason: cached.blocked_reason ?? null,
        blocked_at: blockedAt,
        created_at: new Date(cached.created_at),
        updated_at: new Date(cached.updated_at),
      };
    }
    const user = await load();
    if (user) await this.store.setJson(key(id), user, { ttlMs: this.ttlMs });
    return user;
  }

  async forget(id: string): Promise<void> {
    await this.store.del(key(id));
  }
}

const key = (id: string) => `user:${id}`;
