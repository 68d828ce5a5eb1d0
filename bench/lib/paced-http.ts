/**
 * An open-loop HTTP/1.1 load: requests sent at their scheduled times over a pool of keep-alive
 * sockets, each request's bytes built once, responses read with a minimal parser (status line,
 * content-length or chunked body). It exists because the load generator shares a 2-core machine
 * with the system it loads: node:http's Agent spent ~45% of a core offering 1,700 req/s over
 * 600 sockets (headers object, ClientRequest, IncomingMessage and its stream per request), CPU
 * the server under test then lacked. This costs a fraction of that, as autocannon does for
 * closed loops (it too writes prebuilt request bytes).
 *
 * One request in flight per socket (no pipelining); a due request with no idle socket opens a
 * new one up to `maxSockets`, else waits in a FIFO for the first socket freed. Latency counts
 * from the scheduled time, so waiting for a socket is not flattered.
 */
import { connect, type Socket } from "node:net";

export interface PacedRequest {
  /**
   * Called once per request with its status (0: a socket error or timeout), its latency from its
   * scheduled time, and how much of that passed before it was written (a socket to free, or this
   * process's own loop running late; 0 when it was never written).
   */
  done(status: number, latencyMs: number, error?: "error" | "timeout", sendDelayMs?: number): void;
}

export interface PacedHttpOptions {
  url: URL;
  method: string;
  headers: Record<string, string>;
  maxSockets: number;
  timeoutMs: number;
}

interface Pending {
  bytes: Buffer;
  scheduledAt: number;
  request: PacedRequest;
}

interface Conn {
  socket: Socket;
  current: Pending | undefined;
  buffered: Buffer;
  /** When the current request was written (performance.now()), for the timeout sweep. */
  sentAt: number;
}

export class PacedHttp {
  private readonly idle: Conn[] = [];
  private readonly waiting: Pending[] = [];
  private readonly all = new Set<Conn>();
  private readonly head: string;
  private connecting = 0;
  private closed = false;
  /** One sweep for every request's timeout: a timer per request would cost more than the request. */
  private readonly sweep: NodeJS.Timeout;

  constructor(private readonly options: PacedHttpOptions) {
    this.sweep = setInterval(
      () => {
        const now = performance.now();
        for (const conn of this.all) {
          if (conn.current && now - conn.sentAt > options.timeoutMs) {
            this.settle(conn, 0, "timeout");
            conn.socket.destroy();
          }
        }
      },
      Math.min(500, options.timeoutMs),
    );
    const { url, method, headers } = options;
    const lines = [`${method} ${url.pathname}${url.search} HTTP/1.1`, `host: ${url.host}`, "connection: keep-alive"];
    for (const [name, value] of Object.entries(headers)) {
      if (name.toLowerCase() !== "content-length") lines.push(`${name}: ${value}`);
    }
    this.head = `${lines.join("\r\n")}\r\n`;
  }

  /** The bytes of one request with this body: build once, send as often as the body may be reused. */
  requestBytes(body: Buffer): Buffer {
    return Buffer.concat([Buffer.from(`${this.head}content-length: ${body.byteLength}\r\n\r\n`), body]);
  }

  send(bytes: Buffer, scheduledAt: number, request: PacedRequest): void {
    const pending = { bytes, scheduledAt, request };
    const conn = this.idle.pop();
    if (conn) return this.start(conn, pending);
    this.waiting.push(pending);
    if (this.all.size + this.connecting < this.options.maxSockets) this.open();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.sweep);
    for (const conn of this.all) conn.socket.destroy();
    this.all.clear();
    this.idle.length = 0;
  }

  private open(): void {
    this.connecting += 1;
    const socket = connect({ host: this.options.url.hostname, port: Number(this.options.url.port), noDelay: true });
    const conn: Conn = { socket, current: undefined, buffered: Buffer.alloc(0), sentAt: 0 };
    socket.once("connect", () => {
      this.connecting -= 1;
      this.all.add(conn);
      this.release(conn);
    });
    socket.on("data", (chunk: Buffer) => this.onData(conn, chunk));
    socket.on("error", () => undefined); // "close" follows and settles the request
    socket.on("close", () => {
      if (!this.all.delete(conn)) this.connecting -= 1;
      const idleAt = this.idle.indexOf(conn);
      if (idleAt >= 0) this.idle.splice(idleAt, 1);
      if (conn.current) this.settle(conn, 0, "error");
      // Requests still waiting get a socket of their own again.
      if (
        !this.closed &&
        this.waiting.length > this.connecting &&
        this.all.size + this.connecting < this.options.maxSockets
      )
        this.open();
    });
  }

  private start(conn: Conn, pending: Pending): void {
    conn.current = pending;
    conn.sentAt = performance.now();
    conn.socket.write(pending.bytes);
  }

  private release(conn: Conn): void {
    if (this.closed) return;
    const next = this.waiting.shift();
    if (next) this.start(conn, next);
    else this.idle.push(conn);
  }

  private settle(conn: Conn, status: number, error?: "error" | "timeout"): void {
    const current = conn.current;
    if (!current) return;
    conn.current = undefined;
    current.request.done(status, performance.now() - current.scheduledAt, error, conn.sentAt - current.scheduledAt);
  }

  private onData(conn: Conn, chunk: Buffer): void {
    conn.buffered = conn.buffered.length === 0 ? chunk : Buffer.concat([conn.buffered, chunk]);
    const parsed = parseResponse(conn.buffered);
    if (!parsed) return;
    conn.buffered = conn.buffered.subarray(parsed.length);
    this.settle(conn, parsed.status);
    if (parsed.close) conn.socket.destroy();
    else this.release(conn);
  }
}

const HEADER_END = Buffer.from("\r\n\r\n");
const CHUNKED_END = Buffer.from("0\r\n\r\n");

/** A whole response at the start of `data`: its status, its length in bytes, and whether the server closes the connection. */
export function parseResponse(data: Buffer): { status: number; length: number; close: boolean } | undefined {
  const headerEnd = data.indexOf(HEADER_END);
  if (headerEnd < 0) return undefined;
  const head = data.toString("latin1", 0, headerEnd);
  const status = Number(head.slice(9, 12));
  const lower = head.toLowerCase();
  const close = /\r\nconnection:\s*close/.test(lower);
  const bodyStart = headerEnd + 4;
  const lengthMatch = /\r\ncontent-length:\s*(\d+)/.exec(lower);
  if (lengthMatch) {
    const length = bodyStart + Number(lengthMatch[1]);
    return data.length >= length ? { status, length, close } : undefined;
  }
  if (/\r\ntransfer-encoding:\s*chunked/.test(lower)) {
    // Walk the chunks: size line, data, CRLF, until the zero-size chunk.
    let at = bodyStart;
    for (;;) {
      const lineEnd = data.indexOf("\r\n", at);
      if (lineEnd < 0) return undefined;
      const size = Number.parseInt(data.toString("latin1", at, lineEnd), 16);
      if (size === 0) {
        const end = data.indexOf(CHUNKED_END, at);
        return end < 0 ? undefined : { status, length: end + CHUNKED_END.length, close };
      }
      at = lineEnd + 2 + size + 2;
      if (at > data.length) return undefined;
    }
  }
  // No length and not chunked: a body-less answer (204, 304) or one ended by closing.
  return { status, length: bodyStart, close };
}
