/**
 * A request body that is not a message of the method's input type is the caller's mistake:
 * INVALID_ARGUMENT (HTTP 400), never INTERNAL (500). connect-node decodes JSON bodies that
 * way already, but reports a binary body it cannot decode ("parse binary: …") as INTERNAL,
 * and it does so before any interceptor runs, so the error is written by the protocol
 * handler itself. This rewrites exactly that answer on its way out, for each protocol the
 * gateway serves: Connect unary (status and JSON body), Connect streaming (the end-of-stream
 * envelope), gRPC (the grpc-status trailer) and gRPC-Web (the trailer envelope).
 */
import type { ServerResponse } from "node:http";
import type { Http2ServerResponse } from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";

/** connect-node's message for a binary body it could not decode. */
const UNDECODABLE = /^parse binary: /;

/** The client's undecodable message as INVALID_ARGUMENT; any other error as it was. */
export function undecodableAsInvalidArgument(error: unknown): unknown {
  if (error instanceof ConnectError && error.code === Code.Internal && UNDECODABLE.test(error.rawMessage)) {
    return new ConnectError(clientMessage(error.rawMessage), Code.InvalidArgument);
  }
  return error;
}

function clientMessage(raw: string): string {
  return `the request is not a valid protobuf message: ${raw.replace(UNDECODABLE, "")}`;
}

type Response = ServerResponse | Http2ServerResponse;
type Headers = Record<string, string | string[] | number | undefined>;

/** JSON codecs: connect-node already answers a body it cannot parse with invalid_argument. */
const JSON_CODEC = /^application\/(?:json|connect\+json|grpc\+json|grpc-web\+json)(?:;|$)/;

/** Patches the response of one Connect/gRPC call (by its request content type) so an undecodable request reads as INVALID_ARGUMENT. */
export function reportUndecodableRequests(contentType: string | undefined, res: Response): void {
  const type = (contentType ?? "").toLowerCase();
  if (JSON_CODEC.test(type)) return; // nothing to rewrite: spare the per-call patching of the response
  if (/^application\/grpc-web/.test(type)) return rewriteChunks(res, grpcWebTrailers);
  if (/^application\/grpc/.test(type)) return rewriteGrpcStatus(res);
  if (/^application\/connect\+/.test(type)) return rewriteChunks(res, connectEndStream);
  return rewriteConnectUnary(res); // application/proto, application/json, and GET requests
}

/** gRPC: grpc-status 13 with the decoding message, in the trailers (or the headers of a trailers-only answer). */
function rewriteGrpcStatus(res: Response): void {
  const fix = (headers: Headers): Headers => {
    const message = headers["grpc-message"];
    if (
      String(headers["grpc-status"]) !== String(Code.Internal) ||
      typeof message !== "string" ||
      !UNDECODABLE.test(safeDecode(message))
    )
      return headers;
    return {
      ...headers,
      "grpc-status": String(Code.InvalidArgument),
      "grpc-message": encodeURIComponent(clientMessage(safeDecode(message))),
    };
  };
  const addTrailers = res.addTrailers.bind(res) as (trailers: Headers) => void;
  res.addTrailers = ((trailers: Headers) => addTrailers(fix(trailers))) as typeof res.addTrailers;
  const writeHead = res.writeHead.bind(res) as (status: number, headers?: Headers) => Response;
  res.writeHead = ((status: number, headers?: Headers) =>
    writeHead(status, headers && fix(headers))) as typeof res.writeHead;
}

/** Connect unary: status 500 and {"code":"internal","message":"parse binary: …"}; held until the body shows which error it is. */
function rewriteConnectUnary(res: Response): void {
  const writeHead = res.writeHead.bind(res) as (status: number, headers?: Headers) => Response;
  const end = res.end.bind(res) as (chunk?: unknown, ...rest: unknown[]) => Response;
  let held: { status: number; headers: Headers | undefined } | undefined;
  res.writeHead = ((status: number, headers?: Headers) => {
    if (status !== 500) return writeHead(status, headers);
    held = { status, headers };
    return res;
  }) as typeof res.writeHead;
  const release = (chunk: unknown): unknown => {
    if (!held) return chunk;
    const { status, headers } = held;
    held = undefined;
    const body = parseJson(chunk);
    if (body?.code === "internal" && typeof body.message === "string" && UNDECODABLE.test(body.message)) {
      const text = Buffer.from(JSON.stringify({ code: "invalid_argument", message: clientMessage(body.message) }));
      writeHead(400, { ...withoutLength(headers), "content-length": text.length });
      return text;
    }
    writeHead(status, headers);
    return chunk;
  };
  const write = res.write.bind(res) as (chunk: unknown, ...rest: unknown[]) => boolean;
  res.write = ((chunk: unknown, ...rest: unknown[]) => write(release(chunk), ...rest)) as typeof res.write;
  res.end = ((chunk?: unknown, ...rest: unknown[]) => {
    if (held && (chunk === undefined || typeof chunk === "function")) {
      writeHead(held.status, held.headers);
      held = undefined;
    }
    return typeof chunk === "function" || chunk === undefined ? end(chunk, ...rest) : end(release(chunk), ...rest);
  }) as typeof res.end;
}

/** Rewrites body chunks that are one whole envelope (connect-node writes each envelope as its own chunk). */
function rewriteChunks(res: Response, rewrite: (flags: number, data: Buffer) => Buffer | undefined): void {
  const fix = (chunk: unknown): unknown => {
    if (!(chunk instanceof Uint8Array) || chunk.length < 5) return chunk;
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (bytes.readUInt32BE(1) !== bytes.length - 5) return chunk;
    const data = rewrite(bytes[0]!, bytes.subarray(5));
    if (!data) return chunk;
    const header = Buffer.alloc(5);
    header[0] = bytes[0]!;
    header.writeUInt32BE(data.length, 1);
    return Buffer.concat([header, data]);
  };
  const write = res.write.bind(res) as (chunk: unknown, ...rest: unknown[]) => boolean;
  res.write = ((chunk: unknown, ...rest: unknown[]) => write(fix(chunk), ...rest)) as typeof res.write;
  const end = res.end.bind(res) as (chunk?: unknown, ...rest: unknown[]) => Response;
  res.end = ((chunk?: unknown, ...rest: unknown[]) => end(fix(chunk), ...rest)) as typeof res.end;
}

/** Connect streaming: the end-of-stream envelope (flag 0x02) {"error":{"code":"internal","message":"parse binary: …"}}. */
function connectEndStream(flags: number, data: Buffer): Buffer | undefined {
  if ((flags & 0x02) === 0) return undefined;
  const end = parseJson(data);
  const error = end?.error as { code?: unknown; message?: unknown } | undefined;
  if (error?.code !== "internal" || typeof error.message !== "string" || !UNDECODABLE.test(error.message))
    return undefined;
  return Buffer.from(
    JSON.stringify({ ...end, error: { code: "invalid_argument", message: clientMessage(error.message) } }),
  );
}

/** gRPC-Web: the trailer envelope (flag 0x80), "grpc-status: 13" with the decoding message. */
function grpcWebTrailers(flags: number, data: Buffer): Buffer | undefined {
  if ((flags & 0x80) === 0) return undefined;
  const lines = data.toString("utf8").split("\r\n");
  const value = (name: string) =>
    lines
      .find((line) => line.toLowerCase().startsWith(`${name}:`))
      ?.slice(name.length + 1)
      .trim();
  const message = safeDecode(value("grpc-message") ?? "");
  if (value("grpc-status") !== String(Code.Internal) || !UNDECODABLE.test(message)) return undefined;
  const rewritten = lines.map((line) => {
    const lower = line.toLowerCase();
    if (lower.startsWith("grpc-status:")) return `grpc-status: ${Code.InvalidArgument}`;
    if (lower.startsWith("grpc-message:")) return `grpc-message: ${encodeURIComponent(clientMessage(message))}`;
    return line;
  });
  return Buffer.from(rewritten.join("\r\n"));
}

function parseJson(chunk: unknown): Record<string, unknown> | undefined {
  try {
    const text =
      typeof chunk === "string" ? chunk : chunk instanceof Uint8Array ? Buffer.from(chunk).toString("utf8") : undefined;
    const value = text === undefined ? undefined : JSON.parse(text);
    return typeof value === "object" && value !== null ? value : undefined;
  } catch {
    return undefined;
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function withoutLength(headers: Headers | undefined): Headers {
  const out: Headers = {};
  for (const [name, value] of Object.entries(headers ?? {}))
    if (name.toLowerCase() !== "content-length") out[name] = value;
  return out;
}
