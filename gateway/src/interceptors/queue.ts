import type { Interceptor } from "@connectrpc/connect";
import { endpointClassOf, type Admission } from "../overload/admission.js";
import { isDeadlineReason, toConnectRefusal } from "../overload/connect-refusals.js";

/**
 * Unary calls wait for a slot of their endpoint class's queue (honouring their deadline) and
 * hold it until answered; streaming calls take a stream slot instead, held until the stream
 * ends, so long-lived streams never starve unary calls.
 */
export function queueInterceptor(admission: Admission): Interceptor {
  return (next) => async (req) => {
    const name = endpointClassOf(req.service.typeName);
    if (req.method.methodKind === "unary") {
      let release: () => void;
      try {
        release = await admission.enterUnary(name, req.signal, isDeadlineReason);
      } catch (thrown) {
        throw toConnectRefusal(thrown);
      }
      try {
        return await next(req);
      } finally {
        release();
      }
    }
    let release: () => void;
    try {
      release = admission.enterStream(name);
    } catch (thrown) {
      throw toConnectRefusal(thrown);
    }
    // The stream's end releases the slot; so does the call's end if the stream was never read.
    req.signal.addEventListener("abort", release, { once: true });
    try {
      const res = await next(req);
      if (!res.stream) {
        release();
        return res;
      }
      return { ...res, message: releasingAtEnd(res.message, release) };
    } catch (error) {
      release();
      throw error;
    }
  };
}

async function* releasingAtEnd<T>(messages: AsyncIterable<T>, release: () => void): AsyncIterable<T> {
  try {
    yield* messages;
  } finally {
    release();
  }
}
