/**
 * Revoked sessions, as an event. The revocation list makes the next call with a revoked
 * session's token fail; what is already open (a gateway socket, a server stream) makes no
 * next call. So identity also announces each revocation on the bus (a core subject, fire and
 * forget), every process subscribes once, and whatever holds a session open watches it here
 * and is told at once. The periodic re-check of open sockets stays as the fallback for a
 * notice lost while the broker was unreachable.
 */

/** The core subject of revocation notices; payload JSON {"sessionId","userId"}. */
export const SESSION_REVOKED_SUBJECT = "identity.session.revoked";

export interface SessionRevoked {
  sessionId: string;
  userId: string;
}

/** The part of the bus a SessionWatch uses (a structural type: @weelo/auth does not depend on @weelo/bus). */
export interface NoticeBus {
  publish(subject: string, data: Uint8Array): void;
  subscribe(subject: string, handler: (message: { data: Uint8Array }) => void): { unsubscribe(): void };
}

export type RevokedListener = (notice: SessionRevoked) => void;

/** A listener as an object: what holds a long-lived call registers itself, with no closure to keep. */
export interface RevokedWatcher {
  sessionRevoked(notice: SessionRevoked): void;
}

type Watcher = RevokedListener | RevokedWatcher;

export interface SessionWatchOptions {
  /** How long a revocation is remembered for a watch that starts after it: the access-token lifetime. */
  rememberMs: number;
  /** At most this many remembered revocations (oldest dropped first). */
  maxRemembered?: number;
  /** Told about a notice that could not be read, or a listener that threw. */
  onError?: (error: unknown) => void;
}

export class SessionWatch {
  /** Per session its watcher, or a set of them when more than one watches it (rare: one Set less per stream). */
  private readonly listeners = new Map<string, Watcher | Set<Watcher>>();
  /** Recently revoked sessions (id → when), so a stream that registers a moment late is still told. */
  private readonly recent = new Map<string, { notice: SessionRevoked; at: number }>();
  private readonly subscription: { unsubscribe(): void };
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder();

  constructor(
    private readonly bus: NoticeBus,
    private readonly options: SessionWatchOptions,
  ) {
    this.subscription = bus.subscribe(SESSION_REVOKED_SUBJECT, (message) => {
      let notice: SessionRevoked;
      try {
        notice = JSON.parse(this.decoder.decode(message.data)) as SessionRevoked;
      } catch (error) {
        return this.options.onError?.(error);
      }
      if (typeof notice?.sessionId === "string" && notice.sessionId)
        this.revoked({ sessionId: notice.sessionId, userId: String(notice.userId ?? "") });
    });
  }

  /**
   * Tells every process (this one first, without waiting for the broker) that a session was
   * revoked. Call it after the revocation list knows, so a re-check prompted by it agrees.
   */
  announce(notice: SessionRevoked): void {
    this.revoked(notice);
    try {
      this.bus.publish(
        SESSION_REVOKED_SUBJECT,
        this.encoder.encode(JSON.stringify({ sessionId: notice.sessionId, userId: notice.userId })),
      );
    } catch (error) {
      this.options.onError?.(error);
    }
  }

  /**
   * Calls onRevoked once when this session is revoked (on the next tick when it already was,
   * recently); returns the function that stops watching. Cheap: one map entry per watch.
   */
  watch(sessionId: string, onRevoked: RevokedListener): () => void {
    if (!this.add(sessionId, onRevoked)) {
      let stopped = false;
      const notice = this.recent.get(sessionId)!.notice;
      queueMicrotask(() => stopped || this.call(onRevoked, notice));
      return () => {
        stopped = true;
      };
    }
    return () => this.remove(sessionId, onRevoked);
  }

  /**
   * watch() for an object that stops watching with remove(): no function is made per watch.
   * Returns false, registering nothing, when the session was revoked recently: the caller
   * handles that itself (it is told nothing).
   */
  add(sessionId: string, watcher: Watcher): boolean {
    const earlier = this.recent.get(sessionId);
    if (earlier && Date.now() - earlier.at < this.options.rememberMs) return false;
    const current = this.listeners.get(sessionId);
    if (current === undefined) this.listeners.set(sessionId, watcher);
    else if (current instanceof Set) current.add(watcher);
    else if (current !== watcher) this.listeners.set(sessionId, new Set([current, watcher]));
    return true;
  }

  /** Stops a watch made with add() (or watch()); nothing happens when it is not watching. */
  remove(sessionId: string, watcher: Watcher): void {
    const current = this.listeners.get(sessionId);
    if (current === watcher) this.listeners.delete(sessionId);
    else if (current instanceof Set) {
      current.delete(watcher);
      if (current.size === 0) this.listeners.delete(sessionId);
    }
  }

  /** Sessions being watched now (for tests and metrics). */
  get watched(): number {
    return this.listeners.size;
  }

  close(): void {
    this.subscription.unsubscribe();
    this.listeners.clear();
    this.recent.clear();
  }

  private revoked(notice: SessionRevoked): void {
    if (this.recent.has(notice.sessionId)) this.recent.delete(notice.sessionId); // re-inserted as the newest
    this.recent.set(notice.sessionId, { notice, at: Date.now() });
    const max = this.options.maxRemembered ?? 100_000;
    for (const [id, entry] of this.recent) {
      if (this.recent.size <= max && Date.now() - entry.at < this.options.rememberMs) break;
      this.recent.delete(id);
    }
    const watchers = this.listeners.get(notice.sessionId);
    if (!watchers) return;
    this.listeners.delete(notice.sessionId);
    if (watchers instanceof Set) for (const watcher of watchers) this.call(watcher, notice);
    else this.call(watchers, notice);
  }

  private call(watcher: Watcher, notice: SessionRevoked): void {
    try {
      if (typeof watcher === "function") watcher(notice);
      else watcher.sessionRevoked(notice);
    } catch (error) {
      this.options.onError?.(error);
    }
  }
}
