import type { DescMethod, DescService, Message } from "@bufbuild/protobuf";
import type { Interceptor } from "@connectrpc/connect";
import { type RequestCheck, requestCheck } from "@weelo/validate";

/**
 * The contract's field rules (buf.validate) checked at the edge, with the same compiled checks
 * (@weelo/validate) the services run, built once per method here at start. A violation is an
 * InvalidArgumentError, which the errors interceptor turns into INVALID_ARGUMENT with a
 * google.rpc.BadRequest, exactly as a service would have answered, but without the mesh hop.
 * Runs after authentication: an anonymous caller learns nothing about the rules.
 */
export function validationInterceptor(services: readonly DescService[]): Interceptor {
  const checks = new Map<DescMethod, RequestCheck>();
  for (const service of services) {
    for (const method of service.methods) {
      const check = requestCheck(method.input);
      if (check) checks.set(method, check);
    }
  }
  return (next) => async (req) => {
    const check = checks.get(req.method);
    if (!check) return next(req);
    if (!req.stream) {
      const refusal = check(req.message);
      if (refusal) throw refusal;
      return next(req);
    }
    return next({ ...req, message: checked(req.message, check) });
  };
}

/** A client stream's messages, each checked as it is read: the first violation ends the call. */
async function* checked<T extends Message>(messages: AsyncIterable<T>, check: RequestCheck): AsyncIterable<T> {
  for await (const message of messages) {
    const refusal = check(message);
    if (refusal) throw refusal;
    yield message;
  }
}
