/**
 * @weelo/client for Node: the same client over node:http (HTTP/1.1) for unary calls and server
 * streams, and over HTTP/2 for the driver's StreamLocation (a bidirectional stream).
 */
import { createConnectTransport } from "@connectrpc/connect-node";
import { WeeloClient, type WeeloClientOptions } from "./client.js";

export * from "./index.js";

export interface NodeClientOptions extends WeeloClientOptions {
  /** The gateway, e.g. http://localhost:3000. */
  baseUrl: string;
  /** Binary protobuf instead of JSON on the wire. Default false. */
  binary?: boolean;
  /** HTTP/2 for every call (one connection), instead of HTTP/1.1 for all but StreamLocation. Default false. */
  http2?: boolean;
}

export function createNodeWeeloClient(options: NodeClientOptions): WeeloClient {
  return new WeeloClient((interceptors, streaming) => {
    const useBinaryFormat = options.binary ?? false;
    if (streaming || options.http2)
      return createConnectTransport({ baseUrl: options.baseUrl, httpVersion: "2", useBinaryFormat, interceptors });
    return createConnectTransport({ baseUrl: options.baseUrl, httpVersion: "1.1", useBinaryFormat, interceptors });
  }, options);
}
