/**
 * Load worker of the dispatch bench (a child process, see lib/workers.ts): opens one
 * WatchOffers stream per transporter, waits until every stream has caught up, then books one
 * truck at a time at BENCH rate with random pickups in the city and records, per order, the
 * time from CreateBooking returning to the first offer of that order arriving on any stream.
 * Beside it, in the same run, the raw NATS publish → receive latency at the same rate
 * (NATS_URL, default nats://127.0.0.1:4222), or the note that no NATS server answered.
 */
import * as grpc from "@grpc/grpc-js";
import { connect } from "@nats-io/transport-node";
import { BookingServiceService } from "@weelo/contracts/grpc/weelo/booking/v1/booking_service";
import {
  DispatchServiceService,
  type WatchOffersResponse,
} from "@weelo/contracts/grpc/weelo/dispatch/v1/dispatch_service";
import { PricingServiceService } from "@weelo/contracts/grpc/weelo/pricing/v1/pricing_service";
import { createClient } from "@weelo/grpc";
import { runWorker } from "../lib/workers.js";
import type { DispatchBenchFile } from "./_dispatch-server.js";

export interface DispatchLoadInput {
  /** host:port serving BookingService and PricingService. */
  address: string;
  /** host:port serving DispatchService (the same as `address` when one process runs all). */
  dispatchAddress: string;
  file: DispatchBenchFile;
  ratePerS: number;
  warmupMs: number;
  measureMs: number;
  streamsPerConnection: number;
}

export interface DispatchLoadResult {
  streams: number;
  booked: number;
  offerLatenciesMs: number[];
  ordersWithoutOffer: number;
  natsLatenciesMs: number[];
  natsNote: string;
  errors: string[];
}

await runWorker<DispatchLoadInput, DispatchLoadResult>(async (input) => {
  const errors: string[] = [];
  const channels: grpc.Client[] = [];
  const firstOffer = new Map<string, number>();
  let caughtUp = 0;
  const { watchOffers } = DispatchServiceService;
  const calls: grpc.ClientReadableStream<WatchOffersResponse>[] = [];
  input.file.transporters.forEach((t, i) => {
    if (i % input.streamsPerConnection === 0)
      channels.push(new grpc.Client(input.dispatchAddress, grpc.credentials.createInsecure()));
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${t.token}`);
    const call = channels
      .at(-1)!
      .makeServerStreamRequest(
        watchOffers.path,
        watchOffers.requestSerialize,
        watchOffers.responseDeserialize,
        {},
        metadata,
      ) as grpc.ClientReadableStream<WatchOffersResponse>;
    call.on("data", (m: WatchOffersResponse) => {
      if (m.kind?.$case === "caughtUp") caughtUp++;
      else if (m.kind?.$case === "offer" && !firstOffer.has(m.kind.value.orderId))
        firstOffer.set(m.kind.value.orderId, performance.now());
    });
    call.on("error", (e: grpc.ServiceError) => {
      if (e.code !== grpc.status.CANCELLED && errors.length < 20) errors.push(`WatchOffers: ${e.message}`);
    });
    calls.push(call);
  });
  const deadline = Date.now() + 300_000;
  while (caughtUp < calls.length) {
    if (Date.now() > deadline) throw new Error(`only ${caughtUp} of ${calls.length} WatchOffers streams caught up`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  const bookings = createClient(BookingServiceService, input.address, { deadlineMs: 30_000 });
  const pricing = createClient(PricingServiceService, input.address, { deadlineMs: 30_000 });
  const auth = { metadata: { authorization: `Bearer ${input.file.customerToken}` } };
  const { box } = input.file;
  const point = () => ({
    lat: box.minLat + Math.random() * (box.maxLat - box.minLat),
    lng: box.minLng + Math.random() * (box.maxLng - box.minLng),
  });
  const address = (location: { lat: number; lng: number }) => ({
    line1: "Plot 1",
    line2: "",
    landmark: "",
    city: "Pune",
    state: "Maharashtra",
    pincode: "411001",
    location,
    contactName: "Bench",
    contactPhone: "9876543210",
  });
  const returned = new Map<string, number>();
  let booked = 0;
  const inFlight: Promise<void>[] = [];
  const book = async (measured: boolean) => {
    try {
      const pickup = point();
      const drop = point();
      const quote = await pricing.getQuote(
        { pickup, drop, vehicleType: input.file.vehicleType, vehicleCount: 1 },
        auth,
      );
      const created = await bookings.createBooking(
        {
          quoteToken: quote.quoteToken,
          pickup: address(pickup),
          drop: address(drop),
          vehicleType: input.file.vehicleType,
          vehicleCount: 1,
          goodsType: "furniture",
          weightKg: 800,
          notes: "",
          idempotencyKey: "",
        },
        auth,
      );
      if (measured) returned.set(created.order!.id, performance.now());
      booked++;
    } catch (error) {
      if (errors.length < 20) errors.push(`CreateBooking: ${(error as Error).message}`);
    }
  };

  // The same rate on raw NATS, measured alongside (its own connections: publisher and subscriber).
  const natsLatencies: number[] = [];
  let natsNote = "";
  const natsUrl = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
  let nats: { pub: Awaited<ReturnType<typeof connect>>; sub: Awaited<ReturnType<typeof connect>> } | undefined;
  try {
    const [pub, sub] = await Promise.all([
      connect({ servers: natsUrl, timeout: 2000 }),
      connect({ servers: natsUrl, timeout: 2000 }),
    ]);
    nats = { pub, sub };
    const subject = `bench.dispatch.${process.pid}`;
    const subscription = sub.subscribe(subject);
    void (async () => {
      for await (const m of subscription)
        natsLatencies.push(performance.now() - new DataView(m.data.buffer, m.data.byteOffset, 8).getFloat64(0));
    })();
    await sub.flush();
  } catch (error) {
    natsNote = `no NATS server answered at ${natsUrl} (${(error as Error).message}): no raw NATS baseline`;
  }
  const natsSubject = `bench.dispatch.${process.pid}`;

  const intervalMs = 1000 / input.ratePerS;
  const start = performance.now();
  const endAt = start + input.warmupMs + input.measureMs;
  let next = start;
  let measuring = false;
  while (performance.now() < endAt) {
    measuring = performance.now() >= start + input.warmupMs;
    inFlight.push(book(measuring));
    if (nats && measuring) {
      const payload = new Uint8Array(64);
      new DataView(payload.buffer).setFloat64(0, performance.now());
      nats.pub.publish(natsSubject, payload);
    }
    next += intervalMs;
    const wait = next - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
  await Promise.all(inFlight);
  // Offers of the last bookings: give them a moment to arrive.
  const settle = Date.now() + 5000;
  while ([...returned.keys()].some((id) => !firstOffer.has(id)) && Date.now() < settle)
    await new Promise((resolve) => setTimeout(resolve, 50));
  const latencies: number[] = [];
  let without = 0;
  for (const [orderId, at] of returned) {
    const offered = firstOffer.get(orderId);
    if (offered === undefined) without++;
    // An offer can arrive before CreateBooking's answer does: that is 0 ms after it.
    else latencies.push(Math.max(0, offered - at));
  }
  for (const call of calls) call.cancel();
  for (const channel of channels) channel.close();
  bookings.close();
  pricing.close();
  if (nats) {
    await nats.pub.drain();
    await nats.sub.drain();
  }
  return {
    streams: calls.length,
    booked,
    offerLatenciesMs: latencies,
    ordersWithoutOffer: without,
    natsLatenciesMs: natsLatencies,
    natsNote,
    errors,
  };
});
