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
  // Plain promise callbacks, no async frame: a stream lives long, and an async function would
  // keep its frame and a race's promises alive for all of it.
  return (ctx, next) => {
    const principal = ctx.principal;
    if (!principal || !ctx.streaming) return next();
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const stop = sessions.watch(principal.sessionId, () => {
        if (settled) return;
        settled = true;
        stop();
        const error = new UnauthenticatedError("the session has ended; log in again", { reason: "SESSION_REVOKED" });
        ctx.abort(error); // the handler's signal: it stops reading and writing
        reject(error); // and the call ends now, even if the handler is slow to notice
      });
      let work: Promise<void>;
      try {
        work = next();
      } catch (error) {
        work = Promise.reject(error);
      }
      // A handler finishing after the revocation: its outcome no longer matters.
      work.then(
        () => {
          if (settled) return;
          settled = true;
          stop();
          resolve();
        },
        (error: unknown) => {
          if (settled) return;
          settled = true;
          stop();
          reject(error);
        },
      );
    });
  };
}
