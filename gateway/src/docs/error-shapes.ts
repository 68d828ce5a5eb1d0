/**
 * The error shapes of the document. Codes, HTTP statuses and default reasons come from the one
 * table in @weelo/errors; the bodies are those of gateway/src/errors.ts (REST envelope) and
 * the Connect protocol. docs.test.ts checks real answers of the gateway against these schemas,
 * so a change of either shape fails there until it is described here too.
 */
import { GrpcCode, httpStatusOf } from "@weelo/errors";

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

/** Reasons a client meets on many routes; each service adds its own (e.g. OTP_EXPIRED, QUOTE_EXPIRED). */
const COMMON_REASONS: Record<string, string> = {
  TOKEN_INVALID: "The access token is missing, malformed, signed by another key or expired: log in again or refresh.",
  TOKEN_EXPIRED: "The access token expired: refresh it.",
  SESSION_REVOKED: "The session was ended (logout, or a refresh token used twice): log in again.",
  ROLE_NOT_ALLOWED: "The caller's role may not call this method.",
  RATE_LIMITED: "Too many calls from this caller or address: wait `retryAfterSeconds`.",
  OVERLOADED: "The gateway sheds load: retry after `retryAfterSeconds`.",
  DEPENDENCY_UNAVAILABLE: "A backing service (database, cache, broker) is down: retry shortly.",
  MALFORMED_REQUEST: "The request body could not be decoded.",
  PAYLOAD_TOO_LARGE: "The REST body is larger than the gateway accepts (HTTP 413).",
};

const REASON_DESCRIPTION = `The reason: stable and machine-readable, the word to react to. A service's own reason when it gave one (e.g. \`OTP_EXPIRED\`, \`QUOTE_EXPIRED\`), otherwise the gRPC code's name (${Object.keys(
  GrpcCode,
)
  .filter((name) => name !== "OK")
  .map((name) => `\`${name}\``)
  .join(", ")}). Reasons seen on many routes:\n\n${Object.entries(COMMON_REASONS)
  .map(([reason, text]) => `- \`${reason}\`: ${text}`)
  .join("\n")}`;

export function errorComponents(): Record<string, unknown> {
  const connectCodes = Object.keys(GrpcCode)
    .filter((name) => name !== "OK")
    .map((name) => name.toLowerCase().replace("cancelled", "canceled"));
  return {
    "weelo.RestError": {
      type: "object",
      description: "The envelope of a failed REST call.",
      properties: {
        success: { const: false },
        error: {
          type: "object",
          properties: {
            code: { type: "string", description: REASON_DESCRIPTION, examples: ["OTP_EXPIRED", "INVALID_ARGUMENT"] },
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
                  reason: { type: "string", description: `ErrorInfo. ${REASON_DESCRIPTION}` },
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
    ["Rest", "weelo.RestError", { 413: ["the body is larger than the gateway accepts (`PAYLOAD_TOO_LARGE`)"] }],
    ["Connect", "weelo.ConnectError", {}],
  ] as const) {
    for (const [status, codes] of statusesOf(extra)) {
      responses[`${protocol}Error${status}`] = {
        description: codes.map((c) => (c === c.toUpperCase() ? `\`${c}\`` : c)).join(", "),
        content: { "application/json": { schema: ref(schema) } },
        ...(status === 429 || status === 503
          ? { headers: { "Retry-After": { description: "Seconds to wait.", schema: { type: "integer" } } } }
          : {}),
      };
    }
  }
  return responses;
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
