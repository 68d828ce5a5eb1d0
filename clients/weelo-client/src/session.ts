/**
 * The logged-in user's tokens: kept where the app says (a TokenStore: memory by default,
 * localStorage, AsyncStorage, the keychain), sent on every call, and renewed with the
 * refresh token when the server says the access token is no longer good.
 *
 * Refresh tokens rotate and are single-use: identity treats a refresh token presented twice
 * as theft and ends the whole session. So one refresh at a time per session, shared by every
 * call that noticed the expiry; a call that failed with a token already replaced just retries
 * with the new one instead of refreshing again.
 */
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import type { AuthService } from "@weelo/contracts/es/weelo/identity/v1/auth_service_pb";
import { SessionEndedError, isTransient } from "./errors.js";

export interface Tokens {
  accessToken: string;
  refreshToken: string;
  /** The account the tokens belong to. */
  userId: string;
}

/** Where the tokens live between app starts. Every method may be synchronous or return a promise. */
export interface TokenStore {
  load(): Tokens | undefined | Promise<Tokens | undefined>;
  save(tokens: Tokens): void | Promise<void>;
  clear(): void | Promise<void>;
}

/** Keeps the tokens in memory only (a server-side script, a test, the simulator). */
export function memoryTokenStore(initial?: Tokens): TokenStore {
  let tokens = initial;
  return {
    load: () => tokens,
    save: (next) => {
      tokens = next;
    },
    clear: () => {
      tokens = undefined;
    },
  };
}

/** A key-value storage with the shape of `localStorage` (browsers) or a synchronous wrapper of AsyncStorage. */
export interface KeyValueStorage {
  getItem(key: string): string | null | Promise<string | null>;
  setItem(key: string, value: string): void | Promise<void>;
  removeItem(key: string): void | Promise<void>;
}

/** Keeps the tokens as JSON under one key of a storage: `storageTokenStore(localStorage)`, or React Native's AsyncStorage. */
export function storageTokenStore(storage: KeyValueStorage, key = "weelo.tokens"): TokenStore {
  return {
    async load() {
      const raw = await storage.getItem(key);
      return raw ? (JSON.parse(raw) as Tokens) : undefined;
    },
    save: (tokens) => storage.setItem(key, JSON.stringify(tokens)),
    clear: () => storage.removeItem(key),
  };
}

export interface SessionEvents {
  /** The tokens were renewed (persisted already). */
  onRefresh?: (tokens: Tokens) => void;
  /** The session is over (logged out elsewhere, revoked, expired): the app shows its login. */
  onSessionEnded?: (error: SessionEndedError) => void;
}

export class Session {
  private tokens: Tokens | undefined;
  private loaded: Promise<void> | undefined;
  private refreshing: Promise<string> | undefined;
  /** Refreshes done by this session (each one rotation of the refresh token). */
  refreshes = 0;

  constructor(
    private readonly store: TokenStore,
    private readonly auth: () => Client<typeof AuthService>,
    private readonly events: SessionEvents = {},
  ) {}

  /** The current access token, after loading the store once; undefined when logged out. */
  async accessToken(): Promise<string | undefined> {
    this.loaded ??= Promise.resolve(this.store.load()).then((tokens) => {
      this.tokens ??= tokens;
    });
    await this.loaded;
    return this.tokens?.accessToken;
  }

  /** The user id of the session, once logged in. */
  get userId(): string | undefined {
    return this.tokens?.userId;
  }

  get current(): Tokens | undefined {
    return this.tokens;
  }

  /** Starts a session with tokens from VerifyOtp (the client's `login` does this). */
  async begin(tokens: Tokens): Promise<void> {
    this.loaded = Promise.resolve();
    this.tokens = tokens;
    this.refreshing = undefined;
    await this.store.save(tokens);
  }

  /** Forgets the tokens (after Logout, or when the session ended). */
  async end(): Promise<void> {
    this.tokens = undefined;
    await this.store.clear();
  }

  /**
   * A fresh access token after `stale` was refused. If the session already moved past it,
   * the current token; if a refresh is under way, that refresh; else one new refresh. A
   * refused refresh token ends the session (SessionEndedError); a transient failure leaves
   * the tokens as they were, for a later try.
   */
  async renew(stale: string | undefined): Promise<string> {
    await this.accessToken();
    const tokens = this.tokens;
    if (!tokens) throw new SessionEndedError(new ConnectError("not logged in", Code.Unauthenticated));
    if (stale !== undefined && tokens.accessToken !== stale) return tokens.accessToken;
    this.refreshing ??= this.refresh(tokens).finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async refresh(tokens: Tokens): Promise<string> {
    try {
      const answer = await this.auth().refreshToken({ refreshToken: tokens.refreshToken });
      if (!answer.tokens?.accessToken) throw new ConnectError("RefreshToken returned no tokens", Code.Internal);
      const next: Tokens = {
        accessToken: answer.tokens.accessToken,
        refreshToken: answer.tokens.refreshToken,
        userId: tokens.userId,
      };
      this.tokens = next;
      this.refreshes += 1;
      await this.store.save(next);
      this.events.onRefresh?.(next);
      return next.accessToken;
    } catch (error) {
      if (isTransient(error)) throw error;
      const ended = new SessionEndedError(error);
      await this.end();
      this.events.onSessionEnded?.(ended);
      throw ended;
    }
  }
}
