/** The /socket metrics: open connections, followed bookings, frames and closes. */
import type { Metrics } from "@weelo/metrics";
import client from "prom-client";

export interface SocketCounters {
  frames: client.Counter<"direction" | "type">;
  closes: client.Counter<"reason">;
}

/** Registers the gauges (read from the open sessions at scrape time) and returns the counters. */
export function socketMetrics(
  metrics: Metrics,
  sessions: ReadonlySet<{ readonly subscriptionCount: number }>,
): SocketCounters {
  const registers = [metrics.registry];
  new client.Gauge({
    name: "weelo_socket_connections",
    help: "Open /socket WebSocket connections.",
    registers,
    collect() {
      this.set(sessions.size);
    },
  });
  new client.Gauge({
    name: "weelo_socket_subscriptions",
    help: "Bookings followed over /socket.",
    registers,
    collect() {
      let total = 0;
      for (const session of sessions) total += session.subscriptionCount;
      this.set(total);
    },
  });
  return {
    frames: new client.Counter({
      name: "weelo_socket_frames_total",
      help: "/socket frames by direction (in, out) and type.",
      labelNames: ["direction", "type"] as const,
      registers,
    }),
    closes: new client.Counter({
      name: "weelo_socket_closed_total",
      help: "/socket connections closed, by reason (client, unauthenticated, auth_timeout, slow_consumer, dead_peer, restarting, revoked, expired, error).",
      labelNames: ["reason"] as const,
      registers,
    }),
  };
}
