import type { Interceptor } from "@connectrpc/connect";
import { cacheControlOf } from "../upstreams.js";

/**
 * Shared reads (the vehicle catalog) tell browsers and CDNs how long to keep the answer;
 * Connect serves such methods over GET, so the header makes them cacheable end to end.
 * Everything else stays private: answers carry the caller's own data.
 */
export const cacheControlInterceptor: Interceptor = (next) => async (req) => {
  const res = await next(req);
  if (!res.stream) res.header.set("cache-control", cacheControlOf(req.service.typeName, req.method.name) ?? "no-store");
  return res;
};
