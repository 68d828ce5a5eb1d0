import { UnauthenticatedError } from "@weelo/errors";
import type { ServerInterceptor } from "./types.js";

/** What the interceptor needs of a session watcher (SessionWatch in @weelo/auth). */
export interface SessionWatcher {
  watch(sessionId: string, onRevoked: () => void): () => void;
}

/**
 * Ends an authenticated streaming call as soon as its session is revoked (logout, refresh
 * token reuse, blocked account, removed driver): UNAUTHENTICATED with reason SESSION_REVOKED.
 * A stream makes no further call that would meet the revocation list, so it watches the
 * session instead. Unary calls are left alone (they end on their own within their deadline).
 */
export function revocationInterceptor(sessions: SessionWatcher): ServerInterceptor {
  return async (ctx, next) => {
    const principal = ctx.principal;
    if (!principal || !ctx.streaming) return next();
    let revoke: ((error: Error) => void) | undefined;
    const revoked = new Promise<never>((_, reject) => (revoke = reject));
    const stop = sessions.watch(principal.sessionId, () => {
      const error = new UnauthenticatedError("the session has ended; log in again", { reason: "SESSION_REVOKED" });
      ctx.abort(error); // the handler's signal: it stops reading and writing
      revoke!(error); // and the call ends now, even if the handler is slow to notice
    });
    const work = next();
    try {
      await Promise.race([work, revoked]);
    } finally {
      stop();
      work.catch(() => undefined); // a handler finishing after the revocation: its outcome no longer matters
      revoked.catch(() => undefined);
    }
  };
}
