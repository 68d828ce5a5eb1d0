/**
 * The error shapes of the document. Codes, HTTP statuses and default reasons come from the one
 * table in @weelo/errors; the bodies are those of gateway/src/errors.ts (REST envelope) and
 * the Connect protocol. docs.test.ts checks real answers of the gateway against these schemas,
 * so a change of either shape fails there until it is described here too.
 */
import { codeName, GrpcCode, httpStatusOf, REASONS, type Reason, type ReasonEntry } from "@weelo/errors";

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

/** The codes a client can receive (OK is no error), with their HTTP status, grouped by status. */
function codesByStatus(): Map<number, string[]> {
  const byStatus = new Map<number, string[]>();
  for (const [name, code] of Object.entries(GrpcCode)) {
    if (code === GrpcCode.OK) continue;
    const status = httpStatusOf(code);
    byStatus.set(status, [...(byStatus.get(status) ?? []), name]);
  }
  return new Map([...byStatus.entries()].sort(([a], [b]) => a - b));
}

/** The reasons an HTTP client can read: the catalog, less those only the /socket feed or the mesh sends. */
function httpReasons(): [Reason, ReasonEntry][] {
  return (Object.entries(REASONS) as [Reason, ReasonEntry][]).filter(
    ([, entry]) => entry.surface !== "socket" && entry.surface !== "mesh",
  );
}

const codesOf = (entry: ReasonEntry) => [entry.code, ...(entry.alsoCodes ?? [])];

/** The HTTP statuses a reason is answered with. */
const statusesOfReason = (entry: ReasonEntry) =>
  entry.httpStatus ? [entry.httpStatus] : [...new Set(codesOf(entry).map(httpStatusOf))];

const REASON_DESCRIPTION = `The reason: stable and machine-readable, the word to react to (never the message). A service's own reason when it gave one (e.g. \`OTP_EXPIRED\`), otherwise the gRPC code's name. The catalog (libs/errors/src/reasons.ts) lists every reason; a newer server may add one, so treat an unknown reason as its code.

| Reason | gRPC code | HTTP | Meaning |
| --- | --- | --- | --- |
${httpReasons()
  .map(
    ([reason, entry]) =>
      `| \`${reason}\` | ${codesOf(entry).map(codeName).join(", ")} | ${statusesOfReason(entry).join(", ")} | ${entry.meaning.replaceAll("|", "\\|")}${entry.surface === "rest" ? " (REST only)" : ""} |`,
  )
  .join("\n")}`;

export function errorComponents(): Record<string, unknown> {
  const connectCodes = Object.keys(GrpcCode)
    .filter((name) => name !== "OK")
    .map((name) => name.toLowerCase().replace("cancelled", "canceled"));
  return {
    "weelo.ErrorReason": {
      type: "string",
      enum: httpReasons().map(([reason]) => reason),
      description: REASON_DESCRIPTION,
    },
    "weelo.RestError": {
      type: "object",
      description: "The envelope of a failed REST call.",
      properties: {
        success: { const: false },
        error: {
          type: "object",
          properties: {
            code: { ...ref("weelo.ErrorReason"), description: "The reason (`weelo.ErrorReason`): react to it." },
            message: { type: "string", description: "For a developer reading logs; not for display or matching." },
            field: { type: "string", description: "The request field at fault (lowerCamelCase), when there is one." },
            retryAfterSeconds: {
              type: "integer",
              minimum: 1,
              description: "Seconds before a retry can succeed (limits, cooldowns); also in the Retry-After header.",
            },
            violations: {
              type: "array",
              description:
                "Every wrong field of the request (the google.rpc.BadRequest of the refusal), when the contract's field rules refused it.",
              items: {
                type: "object",
                properties: {
                  field: { type: "string", description: "The field's path, e.g. `vehicle_count`." },
                  description: { type: "string", description: "What the rule asks for." },
                  reason: { type: "string", description: "The rule's stable id, e.g. `VEHICLE_COUNT_OUT_OF_RANGE`." },
                },
                required: ["field"],
              },
            },
          },
          required: ["code", "message"],
          additionalProperties: false,
        },
      },
      required: ["success", "error"],
      additionalProperties: false,
      example: {
        success: false,
        error: { code: "PHONE_INVALID", message: "not an Indian mobile number", field: "phone" },
      },
    },
    "weelo.ConnectError": {
      type: "object",
      description:
        "A failed Connect call (the Connect protocol's error body). The details are the standard google.rpc ones: `google.rpc.ErrorInfo` (the reason, domain `weelo.app`), `google.rpc.BadRequest` (every wrong field) and `google.rpc.RetryInfo` (when to retry); Connect clients decode them with their stock types (`findDetails`), and `debug` shows each as JSON.",
      properties: {
        code: { type: "string", enum: connectCodes },
        message: { type: "string" },
        details: {
          type: "array",
          items: {
            type: "object",
            properties: {
              type: {
                type: "string",
                description:
                  "Fully qualified message name: `google.rpc.ErrorInfo`, `google.rpc.BadRequest` or `google.rpc.RetryInfo`.",
              },
              value: { type: "string", contentEncoding: "base64", description: "The detail message, protobuf binary." },
              debug: {
                type: "object",
                description: "The detail as JSON, for reading; decode `value` in code.",
                properties: {
                  reason: { ...ref("weelo.ErrorReason"), description: "ErrorInfo: the reason (`weelo.ErrorReason`)." },
                  domain: { type: "string", description: "ErrorInfo: `weelo.app`." },
                  metadata: { type: "object", additionalProperties: { type: "string" }, description: "ErrorInfo." },
                  fieldViolations: { type: "array", description: "BadRequest: every wrong field." },
                  retryDelay: { type: "string", description: "RetryInfo, a protobuf JSON duration, e.g. `30s`." },
                },
              },
            },
            required: ["type", "value"],
          },
        },
      },
      required: ["code"],
      example: {
        code: "invalid_argument",
        message: "not an Indian mobile number",
        details: [{ type: "google.rpc.ErrorInfo", value: "Cg1QSE9ORV9JTlZBTElEEgl3ZWVsby5hcHA=" }],
      },
    },
  };
}

/** The error answers, one per HTTP status naming the codes behind it: components.responses. */
export function errorResponseComponents(): Record<string, unknown> {
  const responses: Record<string, unknown> = {};
  for (const [protocol, schema, extra] of [
    ["Rest", "weelo.RestError", { 413: ["the body is larger than the gateway accepts"] }],
    ["Connect", "weelo.ConnectError", {}],
  ] as const) {
    for (const [status, codes] of statusesOf(extra)) {
      responses[`${protocol}Error${status}`] = {
        description: `${codes.map((c) => (c === c.toUpperCase() ? `\`${c}\`` : c)).join(", ")}${reasonsAt(status, protocol)}`,
        content: { "application/json": { schema: ref(schema) } },
        ...(status === 429 || status === 503
          ? { headers: { "Retry-After": { description: "Seconds to wait.", schema: { type: "integer" } } } }
          : {}),
      };
    }
  }
  return responses;
}

/** The reasons answered with an HTTP status, for the description of its response. */
function reasonsAt(status: number, protocol: "Rest" | "Connect"): string {
  const reasons = httpReasons()
    .filter(([, entry]) => protocol === "Rest" || entry.surface !== "rest")
    .filter(([, entry]) => statusesOfReason(entry).includes(status))
    .filter(([reason, entry]) => reason !== codeName(entry.code))
    .map(([reason]) => `\`${reason}\``);
  return reasons.length > 0 ? `. Reasons: ${reasons.join(", ")}.` : "";
}

function statusesOf(extra: Record<number, readonly string[]>): [number, readonly string[]][] {
  const statuses = new Map<number, readonly string[]>(codesByStatus());
  for (const [status, text] of Object.entries(extra)) statuses.set(Number(status), text);
  return [...statuses.entries()].sort(([a], [b]) => a - b);
}

function refsOf(protocol: "Rest" | "Connect", extra: Record<number, readonly string[]> = {}) {
  return Object.fromEntries(
    statusesOf(extra).map(([status]) => [String(status), { $ref: `#/components/responses/${protocol}Error${status}` }]),
  );
}

/** The error answers of a REST alias. */
export function restErrorResponses(): Record<string, unknown> {
  return refsOf("Rest", { 413: [] });
}

/** The error answers of a Connect call. */
export function connectErrorResponses(): Record<string, unknown> {
  return refsOf("Connect");
}
