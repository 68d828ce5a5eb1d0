/**
 * Used by server scripts that run in a bench child process: prints the line
 * `startChild` waits for. Keep it the last thing a server does once it listens.
 */
import type { AddressInfo } from "node:net";

export const READY_PATTERN = /^READY\b.*?\bport=(\d+)/;

export function announceReady(server: { address(): AddressInfo | string | null }): number {
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("bench: server is not listening on TCP");
  process.stdout.write(`READY port=${address.port}\n`);
  return address.port;
}

/** Exit cleanly on SIGTERM/SIGINT (what `ChildServer.stop()` sends), after an optional close. */
export function exitOnSignal(close?: () => void | Promise<void>): void {
  const onSignal = () => {
    void Promise.resolve()
      .then(close)
      .finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2_000).unref();
  };
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
}
