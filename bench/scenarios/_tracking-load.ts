/**
 * Load worker of the tracking bench (a child process, see lib/workers.ts): opens one
 * StreamLocation stream per driver it is given (spread over several HTTP/2 connections, as
 * many phones would be), waits for the parent's go (the server's control door), then each
 * stream sends one point and waits for its ack, as fast as acks allow, or (`intervalMs`) paced:
 * one point per interval per stream, the streams' slots spread evenly over the interval, the
 * next point sent at its slot or at its ack if that comes later (a phone reporting on a timer). Watchers (WatchLocation
 * of the trips of its own drivers) measure the fan-out latency: from sending a point to
 * receiving it on the watch stream. The same code drives the raw echo baseline.
 */
import * as grpc from "@grpc/grpc-js";
import {
  TrackingServiceService,
  type StreamLocationResponse,
  type WatchLocationResponse,
} from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_service";
import { runWorker } from "../lib/workers.js";
import { controlState } from "./_tracking-control.js";

export interface TrackingLoadInput {
  address: string;
  controlPort: number;
  drivers: { index: number; token: string }[];
  watchers: { bookingId: string; driverIndex: number; customerToken: string }[];
  streamsPerConnection: number;
  warmupMs: number;
  measureMs: number;
  /** recorded_at of point seq is t0 + seq seconds (always in the past, 10 m apart: accepted). */
  t0: number;
  /** Paced: each stream sends a point every this many ms (the offered rate is streams × 1000 / intervalMs). Unset: as fast as acks allow. */
  intervalMs?: number;
}

export interface TrackingLoadResult {
  opened: number;
  acked: number;
  /** Every ack received after the go, warm-up included (for the server's CPU per point). */
  ackedTotal: number;
  measuredMs: number;
  ackLatenciesMs: number[];
  fanoutLatenciesMs: number[];
  errors: string[];
}

const { streamLocation, watchLocation } = TrackingServiceService;

await runWorker<TrackingLoadInput, TrackingLoadResult>(async (input) => {
  const channels: grpc.Client[] = [];
  const channelFor = (i: number) => {
    const c = Math.floor(i / input.streamsPerConnection);
    channels[c] ??= new grpc.Client(input.address, grpc.credentials.createInsecure(), {
      "grpc.use_local_subchannel_pool": 1,
      "grpc.max_receive_message_length": 4 * 1024 * 1024,
    });
    return channels[c];
  };
  const errors: string[] = [];
  let stopping = false;
  const noteError = (what: string, error: Error) => {
    if (!stopping && errors.length < 20) errors.push(`${what}: ${error.message}`);
  };
  /** Send times of the trip drivers' points, for the fan-out latency. */
  const sentAt = new Map<number, Map<number, number>>();
  for (const w of input.watchers) sentAt.set(w.driverIndex, new Map());

  interface Stream {
    call: grpc.ClientDuplexStream<unknown, StreamLocationResponse>;
    acked: number;
    waiter: { seq: number; resolve: () => void } | undefined;
    sentAt: number;
    stalled: boolean;
  }
  const streams: Stream[] = input.drivers.map((driver, i) => {
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${driver.token}`);
    const call = channelFor(i).makeBidiStreamRequest(
      streamLocation.path,
      streamLocation.requestSerialize,
      streamLocation.responseDeserialize,
      metadata,
    ) as grpc.ClientDuplexStream<unknown, StreamLocationResponse>;
    const stream: Stream = { call, acked: 0, waiter: undefined, sentAt: 0, stalled: false };
    call.on("data", (response: StreamLocationResponse) => {
      if (response.kind?.$case !== "ack") return;
      stream.acked = Math.max(stream.acked, response.kind.value.ackedSeq);
      if (stream.waiter && stream.acked >= stream.waiter.seq) {
        const { resolve } = stream.waiter;
        stream.waiter = undefined;
        resolve();
      }
    });
    call.on("error", (error: Error) => noteError("stream", error));
    return stream;
  });

  const fanout: number[] = [];
  let windowStart = Number.POSITIVE_INFINITY;
  let windowEnd = Number.POSITIVE_INFINITY;
  const watchCalls = input.watchers.map((w) => {
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${w.customerToken}`);
    const call = channelFor(input.drivers.length + 1).makeServerStreamRequest(
      watchLocation.path,
      watchLocation.requestSerialize,
      watchLocation.responseDeserialize,
      { bookingId: w.bookingId },
      metadata,
    ) as grpc.ClientReadableStream<WatchLocationResponse>;
    const sends = sentAt.get(w.driverIndex)!;
    call.on("data", (update: WatchLocationResponse) => {
      const at = performance.now();
      const seq = update.position?.seq ?? 0;
      const sent = sends.get(seq);
      if (sent === undefined) return;
      sends.delete(seq);
      if (sent >= windowStart && at <= windowEnd) fanout.push(at - sent);
    });
    call.on("error", (error: Error) => noteError("watch", error));
    return call;
  });

  // Wait for the parent's go (it reads the server's idle memory first).
  for (;;) {
    const state = await controlState(input.controlPort);
    if (state.go) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  const started = performance.now();
  windowStart = started + input.warmupMs;
  windowEnd = windowStart + input.measureMs;
  const ackLatencies: number[] = [];
  let acked = 0;
  let ackedTotal = 0;
  // One watchdog instead of a timer per message: a stream without its ack for 30 s is an error.
  const watchdog = setInterval(() => {
    const now = performance.now();
    for (const stream of streams) {
      if (stream.waiter && now - stream.sentAt > 30_000) {
        noteError("stream", new Error(`no ack of ${stream.waiter.seq} within 30 s`));
        stream.stalled = true;
        stream.waiter.resolve();
        stream.waiter = undefined;
      }
    }
  }, 1000);
  await Promise.all(
    streams.map(async (stream, i) => {
      const sends = sentAt.get(input.drivers[i]!.index);
      const { intervalMs } = input;
      // Paced: this stream's slots, spread over the interval so the offered load is even.
      let slot = intervalMs ? started + (intervalMs * i) / streams.length : 0;
      let seq = 0;
      while (performance.now() < windowEnd && errors.length === 0) {
        if (intervalMs) {
          const wait = slot - performance.now();
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
          slot += intervalMs;
          if (performance.now() >= windowEnd) break;
        }
        seq += 1;
        const at = performance.now();
        sends?.set(seq, at);
        const acknowledged = new Promise<void>((resolve) => (stream.waiter = { seq, resolve }));
        stream.call.write({
          points: [
            {
              seq,
              recordedAt: new Date(input.t0 + seq * 1000),
              lat: 12.9 + (i % 100) * 0.01 + seq * 0.00009,
              lng: 77.5 + Math.floor(i / 100) * 0.01,
              accuracyM: 8,
              speedMps: 10,
              heading: 0,
            },
          ],
        });
        stream.sentAt = at;
        await acknowledged;
        if (stream.stalled) return;
        ackedTotal += 1;
        const done = performance.now();
        if (at >= windowStart && done <= windowEnd) {
          acked += 1;
          ackLatencies.push(done - at);
        }
      }
    }),
  );
  clearInterval(watchdog);
  // Let the last fan-outs arrive.
  await new Promise((resolve) => setTimeout(resolve, 200));
  stopping = true;
  for (const s of streams) s.call.cancel();
  for (const w of watchCalls) w.cancel();
  for (const c of channels) c.close();
  return {
    opened: streams.length,
    acked,
    ackedTotal,
    measuredMs: input.measureMs,
    ackLatenciesMs: ackLatencies,
    fanoutLatenciesMs: fanout,
    errors,
  };
});
