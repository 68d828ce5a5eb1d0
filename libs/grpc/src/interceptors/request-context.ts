import { runWithContext } from "@weelo/log";
import type { ServerInterceptor } from "./types.js";

/**
 * Makes the request id (from the caller's x-request-id, or a new one), the caller's
 * authorization and the deadline the active request context, so logs carry the id and
 * outgoing calls forward all three.
 */
export const requestContextInterceptor: ServerInterceptor = (ctx, next) => {
  const authorization = ctx.metadata.get("authorization")[0];
  return runWithContext(
    {
      requestId: ctx.requestId,
      ...(typeof authorization === "string" ? { authorization } : {}),
      ...(ctx.deadline !== undefined ? { deadline: ctx.deadline } : {}),
    },
    next,
  );
};
