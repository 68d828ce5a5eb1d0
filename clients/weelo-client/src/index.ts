/**
 * @weelo/client for browsers and React Native (and any runtime with fetch): Connect over
 * HTTP with JSON or binary. Node apps that also need StreamLocation import "@weelo/client/node".
 * Nothing here imports a Node-only module.
 */
import { createConnectTransport } from "@connectrpc/connect-web";
import { WeeloClient, type WeeloClientOptions } from "./client.js";

export { backoffMs } from "./backoff.js";
export * from "./client.js";
export * from "./errors.js";
export { newIdempotencyKey, type RetryOptions } from "./interceptors.js";
export * from "./location.js";
export * from "./session.js";
export { pause, type ResumeOptions, type StreamBreak } from "./streams.js";

export interface WebClientOptions extends WeeloClientOptions {
  /** The gateway, e.g. https://api.weelo.in. */
  baseUrl: string;
  /** Binary protobuf instead of JSON on the wire (smaller, not readable in the network tab). Default false. */
  binary?: boolean;
  /** A fetch of the platform's own (tests, instrumentation). */
  fetch?: typeof globalThis.fetch;
}

/** A client over fetch: every unary call and server stream; the driver's GPS goes up in UpdateLocation batches. */
export function createWeeloClient(options: WebClientOptions): WeeloClient {
  return new WeeloClient(
    (interceptors, streaming) =>
      streaming
        ? undefined
        : createConnectTransport({
            baseUrl: options.baseUrl,
            useBinaryFormat: options.binary ?? false,
            interceptors,
            ...(options.fetch ? { fetch: options.fetch } : {}),
          }),
    options,
  );
}
