import type { Interceptor } from "@connectrpc/connect";
import type { Logger } from "@weelo/log";
import { toConnectError } from "../errors.js";

/**
 * Outermost: nothing but a ConnectError reaches the client, and internal faults are logged
 * once. A stream fails while it is read, after the call has returned here: its messages are
 * wrapped so that a failure mid-stream (e.g. UNAVAILABLE from a torn upstream) keeps its code
 * instead of becoming Connect's bare "internal error".
 */
export function errorsInterceptor(logger: Logger): Interceptor {
  return (next) => async (req) => {
    const rpc = `${req.service.typeName}/${req.method.name}`;
    const toClient = (thrown: unknown) => {
      const { error, internal } = toConnectError(thrown);
      if (internal) logger.error({ err: thrown, rpc }, "gateway call failed");
      return error;
    };
    try {
      const res = await next(req);
      return res.stream ? { ...res, message: mappingErrors(res.message, toClient) } : res;
    } catch (thrown) {
      throw toClient(thrown);
    }
  };
}

async function* mappingErrors<T>(messages: AsyncIterable<T>, toClient: (thrown: unknown) => Error): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (thrown) {
    throw toClient(thrown);
  }
}
