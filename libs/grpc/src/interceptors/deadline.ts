import { DomainError, GrpcCode } from "@weelo/errors";
import type { ServerInterceptor } from "./types.js";

/** Refuses a call whose deadline has passed already; the signal aborts when it passes mid-call. */
export const deadlineInterceptor: ServerInterceptor = (ctx, next) => {
  if (ctx.deadline !== undefined && ctx.deadline <= Date.now()) {
    return Promise.reject(new DomainError(GrpcCode.DEADLINE_EXCEEDED, "the call's deadline passed before it started"));
  }
  return next();
};
