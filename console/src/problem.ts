/** A failure as one line for the page: the server's stable reason and its message. */
import { ConnectError, errorFacts } from "@weelo/client";

export function problem(error: unknown): string {
  if (error instanceof ConnectError) {
    const facts = errorFacts(error);
    const field = facts.field ? ` (${facts.field})` : "";
    return `${facts.reason}${field}: ${error.rawMessage}`;
  }
  return error instanceof Error ? error.message : String(error);
}
