import { GrpcCode, toDomainError } from "@weelo/errors";
import type { ServerInterceptor } from "./types.js";

/**
 * One line per finished call. Successes are debug (hot paths stay quiet), client mistakes
 * info, and server faults error with the cause's stack, which never leaves the process.
 */
export const loggingInterceptor: ServerInterceptor = async (ctx, next) => {
  const started = performance.now();
  try {
    await next();
    ctx.logger.debug({ ms: round(performance.now() - started) }, "rpc ok");
  } catch (error) {
    const domain = toDomainError(error);
    const ms = round(performance.now() - started);
    if (domain.code === GrpcCode.INTERNAL || domain.code === GrpcCode.UNKNOWN) {
      ctx.logger.error({ ms, err: domain.cause ?? domain }, "rpc failed");
    } else {
      ctx.logger.info({ ms, code: domain.reason, field: domain.field }, `rpc refused: ${domain.message}`);
    }
    throw error;
  }
};

const round = (ms: number) => Math.round(ms * 100) / 100;
