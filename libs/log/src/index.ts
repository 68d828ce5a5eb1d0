/**
 * pino JSON logs to stdout. Each line carries the service name and, inside a request, its
 * request id (and, with tracing on, the trace and span ids next to it). Tokens, OTPs,
 * secrets and authorization headers are redacted wherever they sit.
 */
import { pino, type Logger, type LoggerOptions } from "pino";
import { activeTraceIds } from "@weelo/telemetry";
import { currentContext } from "./context.js";

export { runWithContext, currentContext, requestIdFrom, type RequestContext } from "./context.js";
export type { Logger };

/** Keys whose values never reach a log line, at the top level or one or two levels down. */
const SECRET_KEYS = [
  "otp",
  "password",
  "secret",
  "token",
  "accessToken",
  "refreshToken",
  "access_token",
  "refresh_token",
  "devOtp",
  "dev_otp",
  "authorization",
  "cookie",
  "pushToken",
  "push_token",
  "privateKey",
  "apiKey",
  "authKey",
];

export const redactPaths = SECRET_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]);

export interface LoggerSettings {
  /** Name of the service or process, on every line. */
  service: string;
  level?: LoggerOptions["level"];
  /** Human-readable lines (pino-pretty); development only. */
  pretty?: boolean;
  /** Where lines go; stdout when unset (tests pass a stream to read them). */
  destination?: pino.DestinationStream;
}

export function createLogger(settings: LoggerSettings): Logger {
  const options: LoggerOptions = {
    level: settings.level ?? "info",
    base: { service: settings.service },
    redact: { paths: redactPaths, censor: "[redacted]" },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    mixin() {
      const context = currentContext();
      const trace = activeTraceIds(); // undefined unless tracing is on and a span is active
      if (!context) return trace ?? {};
      const fields: Record<string, string> = context.userId
        ? { requestId: context.requestId, userId: context.userId }
        : { requestId: context.requestId };
      if (trace) {
        fields.traceId = trace.traceId;
        fields.spanId = trace.spanId;
      }
      return fields;
    },
  };
  if (settings.destination) return pino(options, settings.destination);
  if (settings.pretty) {
    return pino({ ...options, transport: { target: "pino-pretty", options: { translateTime: "SYS:HH:MM:ss.l" } } });
  }
  return pino(options);
}
