/**
 * Counts the TLS handshakes the gRPC servers of this process complete, to show that mutual TLS
 * is paid per connection, not per call. grpc-js builds its TLS listener with
 * `http2.createSecureServer` (read from the `node:http2` module object at bind time), so wrapping
 * that function before the server binds lets us listen to each server's `secureConnection`
 * event, which fires once per completed handshake. Bench server scripts only; install it before
 * anything binds.
 */
import http2 from "node:http2";
import { writeSync } from "node:fs";
import type { TLSSocket } from "node:tls";

export interface HandshakeCounter {
  /** Completed TLS handshakes (= TLS connections accepted). */
  handshakes: number;
  /** Of those, how many resumed an earlier session (abbreviated handshake). */
  resumed: number;
}

export const HANDSHAKES_LINE = /^TLS handshakes=(\d+) resumed=(\d+)(.*)$/m;

export function countTlsHandshakes(): HandshakeCounter {
  const counter: HandshakeCounter = { handshakes: 0, resumed: 0 };
  const original = http2.createSecureServer;
  const wrapped = (...args: unknown[]) => {
    const server = (original as (...a: unknown[]) => http2.Http2SecureServer).apply(http2, args);
    server.on("secureConnection", (socket: TLSSocket) => {
      counter.handshakes++;
      if (socket.isSessionReused()) counter.resumed++;
    });
    return server;
  };
  (http2 as { createSecureServer: unknown }).createSecureServer = wrapped;
  return counter;
}

/**
 * Prints `TLS handshakes=N resumed=R <extra>` once, when the process is told to stop (before its
 * own SIGTERM/SIGINT handler runs) or exits, whichever comes first: the bench SIGKILLs a child
 * whose graceful shutdown takes over 5 s (the all-in-one's can), and no exit event comes then.
 * Read back by the scenario from the child's output.
 */
export function printHandshakesAtExit(counter: HandshakeCounter, extra: () => string = () => ""): void {
  let printed = false;
  const print = () => {
    if (printed) return;
    printed = true;
    writeSync(1, `TLS handshakes=${counter.handshakes} resumed=${counter.resumed}${extra()}\n`);
  };
  process.prependOnceListener("SIGTERM", print);
  process.prependOnceListener("SIGINT", print);
  process.once("exit", print);
}

/** The handshake line a stopped child printed, for the bench report (undefined when it printed none). */
export function handshakesReported(output: string): string | undefined {
  const match = HANDSHAKES_LINE.exec(output);
  return match ? `${match[1]} TLS handshake(s) (${match[2]} resumed)${match[3]}` : undefined;
}
