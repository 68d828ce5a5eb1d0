import type { CallContext } from "../context.js";

/** Runs the rest of the chain (ending in the handler); resolves when the call's work is done. */
export type Next = () => Promise<void>;

/** Wraps every call of a server: one concern per interceptor, composed in order. */
export type ServerInterceptor = (ctx: CallContext, next: Next) => Promise<void>;

/** Composes interceptors so that the first one listed runs outermost. */
export function compose(interceptors: readonly ServerInterceptor[], last: Next, ctx: CallContext): Promise<void> {
  let next = last;
  for (let index = interceptors.length - 1; index >= 0; index--) next = link(interceptors[index]!, ctx, next);
  return next();
}

/**
 * One interceptor bound to the rest of the chain. An anonymous function made here, not a
 * named one per call: the build's keepNames would name each at creation (a defineProperty).
 */
function link(interceptor: ServerInterceptor, ctx: CallContext, next: Next): Next {
  return () => interceptor(ctx, next);
}
