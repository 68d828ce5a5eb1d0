/** Values each request carries through the Connect router's interceptors and handlers. */
import { createContextKey } from "@connectrpc/connect";
import type { Principal } from "@weelo/auth";

export const requestIdKey = createContextKey<string>("", { description: "request id" });
export const clientIpKey = createContextKey<string>("", { description: "client IP address" });
export const principalKey = createContextKey<Principal | undefined>(undefined, { description: "authenticated caller" });
