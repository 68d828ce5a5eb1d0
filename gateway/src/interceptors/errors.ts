import type { Interceptor } from "@connectrpc/connect";
import type { Logger } from "@weelo/log";
import { toConnectError } from "../errors.js";

/** Outermost: nothing but a ConnectError reaches the client, and internal faults are logged once. */
export function errorsInterceptor(logger: Logger): Interceptor {
  return (next) => async (req) => {
    try {
      return await next(req);
    } catch (thrown) {
      const { error, internal } = toConnectError(thrown);
      if (internal) logger.error({ err: thrown, rpc: `${req.service.typeName}/${req.method.name}` }, "gateway call failed");
      throw error;
    }
  };
}
