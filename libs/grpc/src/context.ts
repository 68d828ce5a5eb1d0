/**
 * What a handler knows about the call it serves. Handlers take (request, ctx) and return a
 * response (or an async iterable of them for streams); they never touch grpc-js directly.
 */
import type * as grpc from "@grpc/grpc-js";
import type { Principal, Role } from "@weelo/auth";
import { PermissionDeniedError, UnauthenticatedError } from "@weelo/errors";
import type { Logger } from "@weelo/log";

export interface CallContext {
  /** Full service name, e.g. "weelo.identity.v1.AuthService". */
  readonly service: string;
  /** Method name as in the proto, e.g. "SendOtp". */
  readonly method: string;
  readonly requestId: string;
  readonly metadata: grpc.Metadata;
  /**
   * The app's IP: the x-forwarded-for of a call from the gateway (proven by its mesh certificate),
   * else the peer address. A header from anyone else is ignored.
   */
  readonly clientIp: string;
  /** The peer's address as grpc-js reports it ("ipv4:127.0.0.1:52044"). */
  readonly peer: string;
  /**
   * The calling service, as the SPIFFE ID of its mesh certificate names it ("dispatch",
   * "gateway"); undefined on the public listener, where callers are apps.
   */
  readonly caller: string | undefined;
  /** Deadline of the call (ms since epoch), when the caller set one. */
  readonly deadline: number | undefined;
  /** Aborted when the caller cancels or the deadline passes: stop work and streams then. */
  readonly signal: AbortSignal;
  /** Logger with service, method and request id bound. */
  readonly logger: Logger;
  /** Set by the principal interceptor when the call carried a valid access token. */
  principal: Principal | undefined;
  /** True for a method that streams requests or responses. */
  readonly streaming: boolean;
  /**
   * Ends the call's work from an interceptor: the signal aborts with this error as its reason
   * (the handler stops), and the call does not count as abandoned by its caller, so the error
   * the interceptor then throws reaches the caller as the call's status.
   */
  abort(error: Error): void;
}

/** The principal of an authenticated call, optionally restricted to some roles. */
export function requirePrincipal(ctx: CallContext, ...roles: Role[]): Principal {
  const principal = ctx.principal;
  if (!principal) throw new UnauthenticatedError();
  if (roles.length > 0 && !roles.includes(principal.role)) {
    throw new PermissionDeniedError(`this call is for ${roles.join(" or ")} accounts`, { reason: "ROLE_NOT_ALLOWED" });
  }
  return principal;
}

/** Milliseconds left before the call's deadline (Infinity when it has none). */
export function remainingMs(ctx: Pick<CallContext, "deadline">): number {
  return ctx.deadline === undefined ? Number.POSITIVE_INFINITY : ctx.deadline - Date.now();
}
