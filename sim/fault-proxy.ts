/**
 * A small TCP fault proxy for the mesh harness: it sits between one service and an upstream
 * (dispatch → booking) and passes bytes through, delays every chunk in both directions by a
 * set latency, or partitions the two: while partitioned nothing gets across either way (new
 * connections are accepted and then hear nothing), as on a network that loses every packet, so
 * callers see their deadlines run out rather than a quick refusal. What was sent meanwhile is
 * held and delivered when the partition heals, as TCP's retransmissions would deliver it.
 */
import { createServer, type Server, type Socket, connect } from "node:net";

export type ProxyMode = { kind: "pass" } | { kind: "latency"; ms: number } | { kind: "partition" };

export interface FaultProxy {
  port: number;
  set(mode: ProxyMode): void;
  close(): Promise<void>;
}

export async function startFaultProxy(upstreamPort: () => number, host = "127.0.0.1"): Promise<FaultProxy> {
  let mode: ProxyMode = { kind: "pass" };
  const pairs = new Set<{ client: Socket; upstream: Socket }>();
  /** Per direction, what a partition holds back until it heals. */
  const held = new Map<Socket, Buffer[]>();

  const deliver = (to: Socket, chunk: Buffer) => {
    // Equal delays keep the chunks in order: timers of one duration fire in the order set.
    if (mode.kind === "latency") setTimeout(() => to.destroyed || to.write(chunk), mode.ms);
    else if (!to.destroyed) to.write(chunk);
  };

  /** Forwards one direction by the mode of the moment each chunk arrives. */
  const forward = (from: Socket, to: Socket) => {
    held.set(to, []);
    from.on("data", (chunk: Buffer) => {
      if (mode.kind === "partition") held.get(to)?.push(chunk);
      else deliver(to, chunk);
    });
  };

  const server: Server = createServer((client) => {
    const upstream = connect({ host, port: upstreamPort() });
    const pair = { client, upstream };
    pairs.add(pair);
    const close = () => {
      pairs.delete(pair);
      held.delete(client);
      held.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", close).on("close", close);
    upstream.on("error", close).on("close", close);
    forward(client, upstream);
    forward(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    port: (server.address() as { port: number }).port,
    set(next) {
      const healing = mode.kind === "partition" && next.kind !== "partition";
      mode = next;
      if (!healing) return;
      for (const [to, chunks] of held) {
        held.set(to, []);
        for (const chunk of chunks) deliver(to, chunk);
      }
    },
    async close() {
      for (const { client, upstream } of [...pairs]) {
        client.destroy();
        upstream.destroy();
      }
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
