/**
 * The gateway calls the gateway scenarios load, whatever the topology behind the gateway (the
 * all-in-one of _system.ts or the mesh of _mesh.ts): a customer logged in over the REST
 * aliases, and the Connect JSON request of each route. One definition per route, so the
 * all-in-one and mesh variants of a scenario send the very same request.
 */
import type { ScenarioTarget } from "../lib/scenario.js";
import { halfCapacity } from "./_half-capacity.js";
import type { OverloadRoute } from "./_overload.js";

export interface GatewayClient {
  baseUrl: string;
  /** POSTs JSON (with a bearer token when given) and returns the parsed answer; throws on non-2xx. */
  post(path: string, body: unknown, accessToken?: string): Promise<any>;
  /** Logs a new customer in (a phone number of its own) and returns the access token. */
  loginCustomer(): Promise<string>;
}

export function gatewayClient(baseUrl: string): GatewayClient {
  const post = async (path: string, body: unknown, accessToken?: string) => {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (accessToken) headers.authorization = `Bearer ${accessToken}`;
    const response = await fetch(`${baseUrl}${path}`, { method: "POST", headers, body: JSON.stringify(body) });
    if (!response.ok) throw new Error(`${path} answered ${response.status}: ${await response.text()}`);
    return (await response.json()) as any;
  };
  return {
    baseUrl,
    post,
    async loginCustomer() {
      // A customer of its own per login: scenarios sharing a system (the mesh) would otherwise
      // meet the OTP cooldown of one phone, and read each other's bookings.
      const phone = `9${String(Math.floor(Math.random() * 1e9)).padStart(9, "0")}`;
      const sent = await post("/api/v1/auth/send-otp", { phone, role: "customer" });
      const verified = await post("/api/v1/auth/verify-otp", {
        phone,
        otp: sent.data.devOtp,
        role: "customer",
      });
      return verified.data.tokens.accessToken as string;
    },
  };
}

const PUNE = { lat: 18.5286, lng: 73.8743 };
const HINJEWADI = { lat: 18.5912, lng: 73.7389 };
const place = (location: typeof PUNE, name: string) => ({
  line1: "Plot 12, MIDC",
  city: "Pune",
  state: "Maharashtra",
  pincode: "411001",
  location,
  contactName: name,
  contactPhone: "+919876500009",
});

/** Pune station to Hinjewadi, one 14 ft truck. */
export const TRIP = { pickup: PUNE, drop: HINJEWADI, vehicleType: "lcv_14ft", vehicleCount: 1 } as const;

/**
 * A generous ceiling of CreateBooking's rate here: the most measured on this 2-core machine is
 * ~300 req/s. The runner mints duration × this (+ one per connection) quotes per measurement; a
 * faster machine that uses them all up gets an INVALID figure saying so, never a reused quote.
 */
const MAX_BOOKINGS_PER_S = 1_000;
/** Quote requests in flight while minting. */
const MINT_CONCURRENCY = 16;

/** `count` fresh quotes for the customer, through the gateway's REST alias, a few at a time. */
export async function mintQuoteTokens(client: GatewayClient, accessToken: string, count: number): Promise<string[]> {
  const tokens: string[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const quote = await client.post("/api/v1/quotes", TRIP, accessToken);
      tokens[i] = quote.data.quoteToken as string;
    }
  };
  await Promise.all(Array.from({ length: Math.min(MINT_CONCURRENCY, count) }, worker));
  return tokens;
}

/** The CreateBooking body for a quote (`[<id>]`: autocannon puts a fresh idempotency key there). */
export function bookingBody(quoteToken: string, idempotencyKey = "[<id>]"): string {
  return JSON.stringify({
    quoteToken,
    pickup: place(PUNE, "Anil Shinde"),
    drop: place(HINJEWADI, "Kavita Rao"),
    vehicleType: TRIP.vehicleType,
    vehicleCount: TRIP.vehicleCount,
    goodsType: "furniture",
    weightKg: 800,
    idempotencyKey,
  });
}

type Route = Omit<ScenarioTarget, "stop">;
const authorized = (accessToken: string) => ({
  "content-type": "application/json",
  authorization: `Bearer ${accessToken}`,
});

/** GetMe: the caller's profile. */
export function getMeRoute(client: GatewayClient, accessToken: string): Route {
  return {
    url: `${client.baseUrl}/weelo.identity.v1.ProfileService/GetMe`,
    method: "POST",
    headers: authorized(accessToken),
    body: "{}",
  };
}

/** GetQuote: a fare for TRIP with two trucks (pricing stores each quote: one insert). */
export function getQuoteRoute(client: GatewayClient, accessToken: string): Route {
  return {
    url: `${client.baseUrl}/weelo.pricing.v1.PricingService/GetQuote`,
    method: "POST",
    headers: authorized(accessToken),
    body: JSON.stringify({ ...TRIP, vehicleCount: 2 }),
  };
}

/** Bookings the ListBookings scenarios give their customer before loading (one page's worth). */
export const LISTED_BOOKINGS = 20;

/**
 * ListBookings: the first page (20) of the customer's bookings, newest first. Books
 * LISTED_BOOKINGS first (unmeasured), so each call reads and encodes a full page.
 */
export async function listBookingsRoute(client: GatewayClient, accessToken: string): Promise<Route> {
  const existing = await client.post("/weelo.booking.v1.BookingService/ListBookings", { pageSize: 100 }, accessToken);
  const missing = LISTED_BOOKINGS - ((existing.bookings as unknown[] | undefined)?.length ?? 0);
  if (missing > 0) {
    const quotes = await mintQuoteTokens(client, accessToken, missing);
    for (const [i, quote] of quotes.entries()) {
      const key = `bench-list-${Date.now().toString(36)}-${i}`;
      await client.post(
        "/weelo.booking.v1.BookingService/CreateBooking",
        JSON.parse(bookingBody(quote, key)),
        accessToken,
      );
    }
  }
  return {
    url: `${client.baseUrl}/weelo.booking.v1.BookingService/ListBookings`,
    method: "POST",
    headers: authorized(accessToken),
    body: JSON.stringify({ pageSize: LISTED_BOOKINGS }),
  };
}

/**
 * CreateBooking: a quote of its own per request (a quote books one order only: a reused one is
 * a QUOTE_ALREADY_USED 400), minted through the gateway before each measurement (`bodies`,
 * unmeasured; quotes live 10 minutes), and a new idempotency key per request. After the
 * closed-loop measurement, the p99 at half its rate, open-loop (`afterLoad`, _half-capacity.ts).
 */
/**
 * Bookings a second the overload scenarios' closed loops get bodies for: above what a 2-core
 * machine serves (100-330 measured), below MAX_BOOKINGS_PER_S, since each is a quote minted
 * through the gateway before the run and there are two closed loops to feed.
 */
const OVERLOAD_BOOKINGS_PER_S = 600;

/** CreateBooking for gateway-overload-booking(-mesh): a quote of its own per request. */
export function createBookingOverloadRoute(client: GatewayClient, accessToken: string): OverloadRoute {
  return {
    url: `${client.baseUrl}/weelo.booking.v1.BookingService/CreateBooking`,
    headers: authorized(accessToken),
    endpointClass: "booking",
    mint: async (count) => (await mintQuoteTokens(client, accessToken, count)).map((q) => bookingBody(q)),
    maxPerS: OVERLOAD_BOOKINGS_PER_S,
  };
}

export function createBookingRoute(client: GatewayClient, accessToken: string): Route {
  const url = `${client.baseUrl}/weelo.booking.v1.BookingService/CreateBooking`;
  const headers = authorized(accessToken);
  const mint = async (count: number) => (await mintQuoteTokens(client, accessToken, count)).map((q) => bookingBody(q));
  return {
    url,
    method: "POST",
    headers,
    bodies: { maxRequestsPerSec: MAX_BOOKINGS_PER_S, mint },
    idReplacement: true,
    afterLoad: halfCapacity({ url, headers, mint }),
  };
}
