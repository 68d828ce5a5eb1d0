/**
 * Serves the REST aliases: match the route, read the JSON body (bounded), build the request
 * message, authenticate (with the verification admission already made), forward like any Connect call, and answer with the envelope
 * {"success": true, "data": …} or {"success": false, "error": {"code", "message"}}.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { fromJson, toJson, type JsonObject } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "@weelo/log";
import { authenticate, type RequestCredentials } from "../authenticate.js";
import { restError, toConnectError } from "../errors.js";
import type { Forwarder } from "../forward.js";
import { cacheControlOf, isPublicMethod } from "../upstreams.js";
import type { RestAlias } from "./aliases.js";
import { acceptEnumWords } from "./rest-json.js";

type Request = IncomingMessage | Http2ServerRequest;
type Response = ServerResponse | Http2ServerResponse;

interface CompiledAlias extends RestAlias {
  pattern: RegExp;
  paramNames: string[];
}

export interface RestRequestInfo {
  requestId: string;
  clientIp: string;
  /** The caller's token, verified at most once per request (admission may have done it already). */
  credentials: RequestCredentials;
}

export class RestHandler {
  private readonly aliases: CompiledAlias[];

  constructor(
    aliases: readonly RestAlias[],
    private readonly forwarder: Forwarder,
    private readonly settings: { bodyLimitBytes: number; deadlineMs: number },
    private readonly logger: Logger,
  ) {
    this.aliases = aliases.map((alias) => {
      const paramNames: string[] = [];
      const source = alias.path.replace(/:([A-Za-z]+)/g, (_, name: string) => {
        paramNames.push(name);
        return "([^/]+)";
      });
      return { ...alias, pattern: new RegExp(`^${source}/?$`), paramNames };
    });
  }

  /** The alias for a path, and whether the path exists under another method (→ 405). */
  match(method: string, path: string): { alias?: CompiledAlias; params: Record<string, string>; pathKnown: boolean } {
    let pathKnown = false;
    for (const alias of this.aliases) {
      const found = alias.pattern.exec(path);
      if (!found) continue;
      pathKnown = true;
      if (alias.method !== method) continue;
      const params = Object.fromEntries(alias.paramNames.map((name, i) => [name, decodePathParam(found[i + 1]!)]));
      return { alias, params, pathKnown };
    }
    return { params: {}, pathKnown };
  }

  /** Route label for metrics: the alias pattern, never the concrete path (ids stay out of labels). */
  async handle(
    req: Request,
    res: Response,
    alias: CompiledAlias,
    params: Record<string, string>,
    info: RestRequestInfo,
  ): Promise<void> {
    const abort = new AbortController();
    res.on("close", () => abort.abort());
    try {
      const body =
        req.method === "GET" || req.method === "DELETE"
          ? queryOf(req)
          : await readJsonBody(req, this.settings.bodyLimitBytes);
      for (const [name, value] of Object.entries(params)) body[alias.params?.[name] ?? name] = value;
      let input;
      try {
        input = fromJson(alias.rpc.input, acceptEnumWords(alias.rpc.input, body), { ignoreUnknownFields: true });
      } catch (error) {
        throw new ConnectError(
          `the request body does not fit ${alias.rpc.input.name}: ${(error as Error).message}`,
          Code.InvalidArgument,
        );
      }
      const { credentials, requestId, clientIp } = info;
      await authenticate(credentials, isPublicMethod(alias.service.typeName, alias.rpc.name));
      const forward = { authorization: credentials.authorization, requestId, clientIp };
      const output = await this.forwarder.call(
        alias.service,
        alias.rpc,
        input,
        forward,
        this.settings.deadlineMs,
        abort.signal,
      );
      const cacheControl = cacheControlOf(alias.service.typeName, alias.rpc.name);
      send(
        res,
        alias.successStatus ?? 200,
        { success: true, data: toJson(alias.rpc.output, output as never) },
        { "cache-control": cacheControl ?? "no-store" },
      );
    } catch (thrown) {
      if (thrown instanceof BodyTooLargeError) {
        send(res, 413, { success: false, error: { code: "PAYLOAD_TOO_LARGE", message: thrown.message } });
        return;
      }
      const { error, internal } = toConnectError(thrown);
      if (internal) this.logger.error({ err: thrown, route: alias.path }, "REST call failed");
      const { status, body, retryAfter } = restError(error);
      send(res, status, body, retryAfter === undefined ? {} : { "retry-after": String(retryAfter) });
    }
  }
}

export function send(res: Response, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/**
 * A path parameter as the client meant it. Percent-encoding that is not UTF-8 ("%FF", "%E0%A4")
 * made decodeURIComponent throw outside any handler (a 500); such a parameter stays as sent,
 * and the service refuses it like any other malformed value (400).
 */
function decodePathParam(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** GET and DELETE carry their fields in the query string (?pageSize=20&status=available). */
function queryOf(req: Request): JsonObject {
  const query = new URL(req.url ?? "/", "http://gateway").searchParams;
  const fields: JsonObject = {};
  for (const [name, value] of query) fields[name] = value;
  return fields;
}

class BodyTooLargeError extends Error {
  constructor(limit: number) {
    super(`the request body is larger than ${limit} bytes`);
  }
}

/** Reads a JSON object body up to the limit: 413 beyond it, 400 for anything but an object. */
async function readJsonBody(req: Request, limit: number): Promise<JsonObject> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > limit) throw new BodyTooLargeError(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new BodyTooLargeError(limit);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8").trim();
  if (text === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConnectError("the request body is not valid JSON", Code.InvalidArgument);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ConnectError("the request body must be a JSON object", Code.InvalidArgument);
  }
  return parsed as JsonObject;
}
