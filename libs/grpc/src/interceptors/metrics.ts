import type { Metrics } from "@weelo/metrics";
import { codeName, toDomainError } from "@weelo/errors";
import type { ServerInterceptor } from "./types.js";

/** Observes every call's duration by service, method and status code. */
export function metricsInterceptor(metrics: Metrics): ServerInterceptor {
  return async (ctx, next) => {
    const end = metrics.rpcServerDuration.startTimer({ service: ctx.service, method: ctx.method });
    let code = "OK";
    try {
      await next();
    } catch (error) {
      code = codeName(toDomainError(error).code);
      throw error;
    } finally {
      end({ code });
    }
  };
}
