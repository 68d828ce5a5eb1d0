import { UnauthenticatedError } from "@weelo/errors";
import type { CallContext } from "../context.js";
import type { ServerInterceptor } from "./types.js";

/** What the interceptor needs of a session watcher (SessionWatch in @weelo/auth). */
export interface SessionWatcher {
  /** Registers the watcher; false (nothing registered) when the session was revoked already. */
  add(sessionId: string, watcher: { sessionRevoked(): void }): boolean;
  remove(sessionId: string, watcher: { sessionRevoked(): void }): void;
}

/**
 * Ends an authenticated streaming call as soon as its session is revoked (logout, refresh
 * token reuse, blocked account, removed driver): UNAUTHENTICATED with reason SESSION_REVOKED.
 * A stream makes no further call that would meet the revocation list, so it watches the
 * session instead. Unary calls are left alone (they end on their own within their deadline).
 */
export function revocationInterceptor(sessions: SessionWatcher): ServerInterceptor {
  return (ctx, next) => {
    const principal = ctx.principal;
    if (!principal || !ctx.streaming) return next();
    return new Promise<void>((resolve, reject) => {
      const guard = new StreamGuard(sessions, principal.sessionId, ctx, resolve, reject);
      if (!sessions.add(principal.sessionId, guard)) {
        guard.sessionRevoked();
        return;
      }
      let work: Promise<void>;
      try {
        work = next();
      } catch (error) {
        work = Promise.reject(error);
      }
      // A handler finishing after the revocation: its outcome no longer matters.
      work.then(guard.finished, guard.failed);
    });
  };
}

/**
 * One streaming call's watch of its session, as one object: a stream lives for hours, so what
 * it keeps is counted per stream (no async frame, no closure per watch; the two promise
 * callbacks share one context).
 */
class StreamGuard {
  private settled = false;
  readonly finished: () => void;
  readonly failed: (error: unknown) => void;

  constructor(
    private readonly sessions: SessionWatcher,
    private readonly sessionId: string,
    private readonly ctx: CallContext,
    private readonly resolve: () => void,
    private readonly reject: (error: unknown) => void,
  ) {
    // Assigned here, not as class fields: the build's keepNames would name a field's function
    // at every creation.
    this.finished = () => {
      if (this.settle()) this.resolve();
    };
    this.failed = (error) => {
      if (this.settle()) this.reject(error);
    };
  }

  sessionRevoked(): void {
    if (!this.settle()) return;
    const error = new UnauthenticatedError("the session has ended; log in again", { reason: "SESSION_REVOKED" });
    this.ctx.abort(error); // the handler's signal: it stops reading and writing
    this.reject(error); // and the call ends now, even if the handler is slow to notice
  }

  /** True the first time: the call's outcome is decided, and the watch stops. */
  private settle(): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.sessions.remove(this.sessionId, this);
    return true;
  }
}
