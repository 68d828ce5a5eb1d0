/**
 * Per-call cost of request validation, in-process (no network): `npx tsx bench/validation.ts`.
 * - gateway: the compiled check on a protobuf-es message the gateway has already decoded;
 * - service: what a grpc-js service adds per request with rules (a second decode, as a
 *   protobuf-es message, plus the check), beside the ts-proto decode it does anyway.
 * A request type without rules costs nothing (no check is made for it).
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { CreateBookingRequest } from "@weelo/contracts/grpc/weelo/booking/v1/booking_service";
import { CreateBookingRequestSchema } from "@weelo/contracts/es/weelo/booking/v1/booking_service_pb";
import { GetQuoteRequestSchema } from "@weelo/contracts/es/weelo/pricing/v1/pricing_service_pb";
import { requestBytesCheck } from "@weelo/grpc";
import { requestCheck } from "@weelo/validate";

/** The best of five rounds: the machine is shared, and the minimum is the least disturbed figure. */
function measure(label: string, run: () => unknown, iterations = 100_000): void {
  for (let i = 0; i < 20_000; i++) run(); // warm up the JIT
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 5; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) run();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / iterations);
  }
  console.log(`${label.padEnd(60)} ${(best / 1000).toFixed(2)} µs/call`);
}

const address = {
  line1: "12 MG Road",
  city: "Pune",
  pincode: "411001",
  contactName: "Anil",
  contactPhone: "+919812345678",
  location: { lat: 18.52, lng: 73.85 },
};
const booking = create(CreateBookingRequestSchema, {
  quoteToken: "x".repeat(300),
  pickup: address,
  drop: { ...address, location: { lat: 18.6, lng: 73.7 } },
  vehicleType: "mini_truck",
  vehicleCount: 2,
  goodsType: "furniture",
  weightKg: 500,
  notes: "ring the bell",
  idempotencyKey: "k-1",
});
const bookingBytes = Buffer.from(toBinary(CreateBookingRequestSchema, booking));
const quote = create(GetQuoteRequestSchema, {
  pickup: { lat: 18.52, lng: 73.85 },
  drop: { lat: 18.6, lng: 73.7 },
  vehicleType: "mini_truck",
  vehicleCount: 3,
});
const invalidQuote = create(GetQuoteRequestSchema, { ...quote, vehicleCount: 21 });

const checkBooking = requestCheck(CreateBookingRequestSchema)!;
const checkQuote = requestCheck(GetQuoteRequestSchema)!;
const bookingBytesCheck = requestBytesCheck("/weelo.booking.v1.BookingService/CreateBooking")!;

measure("gateway: check CreateBookingRequest (valid)", () => checkBooking(booking));
measure("gateway: check GetQuoteRequest (valid)", () => checkQuote(quote));
measure("gateway: check GetQuoteRequest (vehicle_count 21)", () => checkQuote(invalidQuote), 20_000);
measure("service: ts-proto decode CreateBookingRequest (paid anyway)", () => CreateBookingRequest.decode(bookingBytes));
measure("service: es decode + check CreateBookingRequest (added)", () => bookingBytesCheck(bookingBytes));
measure("  of which the protobuf-es decode", () => fromBinary(CreateBookingRequestSchema, bookingBytes));
