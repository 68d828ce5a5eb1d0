/**
 * Refusals written straight onto the HTTP response, before Connect (or the REST alias) has
 * read a byte of the body: each protocol's own error form, encoded once per refusal and
 * replayed, so shedding a call costs a header parse and a write.
 *   - Connect unary (and GET): the error JSON with its HTTP status (429 for RESOURCE_EXHAUSTED).
 *   - Connect streaming: HTTP 200 and an end-stream message carrying the error.
 *   - gRPC: HTTP 200, grpc-status / grpc-message / grpc-status-details-bin trailers.
 *   - gRPC-Web: HTTP 200 and the trailers as the body's trailer frame.
 *   - REST: the envelope, 503 OVERLOADED (504 DEADLINE_EXCEEDED for a deadline).
 * Every one carries Retry-After when it is a shed.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { ConnectError } from "@connectrpc/connect";
import { encodeEnvelope } from "@connectrpc/connect/protocol";
import {
  codeToHttpStatus,
  createEndStreamSerialization,
  endStreamFlag,
  errorToJsonBytes,
} from "@connectrpc/connect/protocol-connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { trailerFlag, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";

export type RawRequest = IncomingMessage | Http2ServerRequest;
export type RawResponse = ServerResponse | Http2ServerResponse;

/** The wire protocol of a request, from its content type (REST is told by its path). */
export type WireProtocol = "connect" | "connect-stream" | "grpc" | "grpc-web" | "rest";

export function wireProtocolOf(contentType: string | undefined): WireProtocol {
  if (!contentType) return "connect"; // a Connect GET carries none
  if (contentType.startsWith("application/grpc-web")) return "grpc-web";
  if (contentType.startsWith("application/grpc")) return "grpc";
  if (contentType.startsWith("application/connect+")) return "connect-stream";
  return "connect";
}

interface Encoded {
  status: number;
  /** Every header, content-length included. */
  headers: Record<string, string>;
  body?: Uint8Array;
  trailers?: Record<string, string>;
}

/** One refusal (a ConnectError and, for REST, its envelope), encoded per protocol on first use. */
export class RawRefusal {
  private readonly encoded = new Map<string, Encoded>();

  constructor(
    readonly error: ConnectError,
    private readonly rest: { status: number; code: string; retryAfterSeconds?: number },
  ) {}

  /** Answers the request with this refusal in its protocol. `cors`: the CORS headers the request earned, if any. */
  write(
    res: RawResponse,
    protocol: WireProtocol,
    contentType: string | undefined,
    cors: Record<string, string> | undefined,
  ): void {
    // Connect unary and REST (the common refusals) answer in one form whatever the content type.
    const key = protocol === "connect" || protocol === "rest" ? protocol : `${protocol} ${contentType ?? ""}`;
    let encoded = this.encoded.get(key);
    if (!encoded) {
      encoded = this.encode(protocol, contentType ?? "");
      if (encoded.body) encoded.headers["content-length"] = String(encoded.body.byteLength);
      this.encoded.set(key, encoded);
    }
    // Node takes the object as is when no header was set before (none is, before admission).
    res.writeHead(encoded.status, cors ? { ...encoded.headers, ...cors } : encoded.headers);
    if (encoded.trailers) res.addTrailers(encoded.trailers);
    if (encoded.body) res.end(encoded.body);
    else res.end();
  }

  private encode(protocol: WireProtocol, contentType: string): Encoded {
    const retry: Record<string, string> = {};
    const retryAfter = this.error.metadata.get("retry-after");
    if (retryAfter) retry["retry-after"] = retryAfter;
    switch (protocol) {
      case "rest": {
        const { status, code, retryAfterSeconds } = this.rest;
        const error = { code, message: this.error.rawMessage, ...(retryAfterSeconds ? { retryAfterSeconds } : {}) };
        return {
          status,
          headers: { "content-type": "application/json; charset=utf-8", ...retry },
          body: Buffer.from(JSON.stringify({ success: false, error })),
        };
      }
      case "connect":
        return {
          status: codeToHttpStatus(this.error.code),
          headers: { "content-type": "application/json", ...retry },
          body: errorToJsonBytes(this.error, {}),
        };
      case "connect-stream": {
        const end = createEndStreamSerialization({}).serialize({ metadata: new Headers(), error: this.error });
        return {
          status: 200,
          headers: { "content-type": contentType, ...retry },
          body: encodeEnvelope(endStreamFlag, end),
        };
      }
      case "grpc":
        return {
          status: 200,
          headers: { "content-type": contentType, ...retry },
          trailers: Object.fromEntries(setTrailerStatus(new Headers(), this.error)),
        };
      case "grpc-web":
        return {
          status: 200,
          headers: { "content-type": contentType, ...retry },
          body: encodeEnvelope(trailerFlag, trailerSerialize(setTrailerStatus(new Headers(), this.error))),
        };
    }
  }
}
