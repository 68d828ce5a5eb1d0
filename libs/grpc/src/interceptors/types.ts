import type { CallContext } from "../context.js";

/** Runs the rest of the chain (ending in the handler); resolves when the call's work is done. */
export type Next = () => Promise<void>;

/** Wraps every call of a server: one concern per interceptor, composed in order. */
export type ServerInterceptor = (ctx: CallContext, next: Next) => Promise<void>;

/** Composes interceptors so that the first one listed runs outermost. */
export function compose(interceptors: readonly ServerInterceptor[], last: Next, ctx: CallContext): Promise<void> {
  const run = (index: number): Promise<void> => {
    const interceptor = interceptors[index];
    return interceptor ? interceptor(ctx, () => run(index + 1)) : last();
  };
  return run(0);
}
