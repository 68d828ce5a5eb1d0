/**
 * MSG91 (an Indian SMS gateway with DLT-registered templates) through its Flow API:
 * POST {base}/api/v5/flow with the auth key header and the template's variables. Every call
 * runs behind the caller's guard (timeout and circuit breaker); any failure is UNAVAILABLE.
 */
import { UnavailableError } from "@weelo/errors";
import type { Guard } from "@weelo/resilience";

export interface Msg91Settings {
  baseUrl: string;
  authKey: string;
  /** The DLT-approved template whose variables `variables` fills. */
  templateId: string;
}

/** Sends one templated SMS to an E.164 phone; `refusal` is the message of the error when MSG91 says no. */
export function sendMsg91Flow(
  settings: Msg91Settings,
  guard: Guard,
  phone: string,
  variables: Record<string, string>,
  refusal = "the SMS provider refused the message",
): Promise<void> {
  return guard.execute(async (signal) => {
    let response: Response;
    try {
      response = await fetch(new URL("/api/v5/flow", settings.baseUrl), {
        method: "POST",
        headers: { authkey: settings.authKey, "content-type": "application/json", accept: "application/json" },
        // MSG91 wants the number without "+": 919876543210.
        body: JSON.stringify({
          template_id: settings.templateId,
          short_url: "0",
          recipients: [{ mobiles: phone.replace(/^\+/, ""), ...variables }],
        }),
        signal,
      });
    } catch (error) {
      throw new UnavailableError("the SMS provider could not be reached", { reason: "SMS_UNAVAILABLE", cause: error });
    }
    const body = (await response.json().catch(() => ({}))) as { type?: string; message?: string };
    if (!response.ok || body.type !== "success") {
      throw new UnavailableError(refusal, {
        reason: "SMS_UNAVAILABLE",
        cause: new Error(`msg91 answered ${response.status}: ${body.message ?? "no message"}`),
      });
    }
  });
}
