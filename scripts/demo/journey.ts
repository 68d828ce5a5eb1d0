/**
 * The README's journey, played through @weelo/client exactly as the three apps would:
 *   1. a transporter logs in, sets a base location, adds a vehicle and a driver;
 *   2. the driver logs in, goes online and streams points (an order is offered to
 *      transporters near its pickup, so they come before the customer);
 *   3. a customer logs in, gets a quote and books a truck;
 *   4. the offer reaches the transporter's WatchOffers: accept, assign the driver;
 *   5. the driver moves the trip through its statuses with points along the road and the
 *      pickup and delivery codes;
 *   6. the booking is completed: the customer's WatchBooking saw every status, the inbox has the story.
 * Every step is printed; any failure throws (the CLI exits non-zero).
 *
 * The points are "recent": recorded over the last minutes at a truck's speed, sent within
 * seconds, so the run takes seconds and the server's filters (speed, age) accept every one.
 */
import type { LatLng } from "@weelo/contracts/es/weelo/common/v1/common_pb";
import { BookingStatus } from "@weelo/contracts/es/weelo/booking/v1/booking_pb";
import type { Offer } from "@weelo/contracts/es/weelo/dispatch/v1/dispatch_pb";
import { type WeeloClient, describeError } from "@weelo/client/node";

export type Say = (line: string) => void;

/** Pune: the pickup, the drop 2.5 km away, the truck's parking 1 km from the pickup. */
const PICKUP = { lat: 18.5286, lng: 73.8743 };
const DROP = { lat: 18.5401, lng: 73.8944 };
const PARKING = { lat: 18.5376, lng: 73.8743 };
/** A truck in city traffic, m/s, and how often its app records a fix, m. */
const SPEED_MPS = 10;
const STEP_M = 100;

/** A fresh valid Indian mobile number per role and run. */
function phone(lead: string, run: number): string {
  return `${lead}${String(run).padStart(9, "0").slice(-9)}`;
}

function metres(a: LatLng | { lat: number; lng: number }, b: { lat: number; lng: number }): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLng = (b.lng - a.lng) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLng / 2) ** 2;
  return 2 * 6_371_000 * Math.asin(Math.sqrt(h));
}

const address = (location: { lat: number; lng: number }, name: string, contact: string) => ({
  line1: "Plot 12, MIDC",
  city: "Pune",
  state: "Maharashtra",
  pincode: "411001",
  location,
  contactName: name,
  contactPhone: `+91${contact}`,
});

export interface JourneyClients {
  customer: WeeloClient;
  transporter: WeeloClient;
  driver: WeeloClient;
}

export interface JourneyResult {
  bookingId: string;
  statuses: string[];
  pointsAcked: bigint;
  inbox: number;
}

/** Waits for a promise at most ms, naming what did not come. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not come within ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function playJourney(apps: JourneyClients, say: Say, run = Date.now() % 1e9): Promise<JourneyResult> {
  const stop = new AbortController();
  try {
    return await play(apps, say, run, stop.signal);
  } finally {
    stop.abort();
  }
}

async function play(apps: JourneyClients, say: Say, run: number, signal: AbortSignal): Promise<JourneyResult> {
  const { customer, transporter, driver } = apps;
  const driverPhone = phone("9", run);

  say("1. transporter: login, base location, vehicle, driver");
  await transporter.login("transporter", phone("7", run));
  await transporter.transporters.updateTransporterProfile({ baseLocation: PARKING, serviceRadiusKm: 25 });
  const { vehicle } = await transporter.vehicles.addVehicle({
    registrationNumber: `MH12DM${String(run % 10000).padStart(4, "0")}`,
    vehicleType: "lcv_14ft",
    capacityKg: 4000,
  });
  const added = await transporter.drivers.addDriver({
    name: "Ravi Patil",
    phone: driverPhone,
    licenceNumber: `MH12 2015${String(run % 1e7).padStart(7, "0")}`,
  });
  const driverId = added.driver!.id;
  say(`   vehicle ${vehicle!.id} (${vehicle!.registrationNumber}), driver ${driverId}`);

  say("2. driver: login, online with the vehicle, GPS stream from the parking");
  await driver.login("driver", driverPhone);
  await driver.drivers.setAvailability({ online: true, vehicleId: vehicle!.id });
  // The clock of the points: minutes ago, advancing at the truck's speed.
  let clock = Date.now() - 20 * 60_000;
  const assignments: string[] = [];
  const upload = driver.uploadLocation({
    signal,
    onCommand: (command) => {
      if (command.kind.case === "assignment") assignments.push(command.kind.value.bookingId);
    },
  });
  let here = { ...PARKING };
  upload.send({ ...here, accuracyM: 8, recordedAt: new Date(clock) });
  const driveTo = async (target: { lat: number; lng: number }) => {
    const steps = Math.max(1, Math.ceil(metres(here, target) / STEP_M));
    const from = here;
    let last = 0n;
    for (let i = 1; i <= steps; i++) {
      here = {
        lat: from.lat + ((target.lat - from.lat) * i) / steps,
        lng: from.lng + ((target.lng - from.lng) * i) / steps,
      };
      clock += (STEP_M / SPEED_MPS) * 1000;
      last = upload.send({ ...here, accuracyM: 8, speedMps: SPEED_MPS, heading: 45, recordedAt: new Date(clock) });
    }
    await within(10_000, `the ack of point ${last}`, upload.acknowledged(last));
    say(`   ${steps} points along the road acknowledged (up to seq ${upload.acked})`);
  };
  await within(10_000, "the first ack", upload.acknowledged(upload.lastSeq));

  // The transporter's app watches offers before the customer books.
  const offers: Offer[] = [];
  let offerArrived: (offer: Offer) => void = () => undefined;
  const firstOffer = new Promise<Offer>((resolve) => (offerArrived = resolve));
  void (async () => {
    for await (const message of transporter.watchOffers({ signal })) {
      if (message.kind.case === "offer") {
        offers.push(message.kind.value);
        offerArrived(message.kind.value);
      }
    }
  })().catch((error: unknown) => say(`   WatchOffers stopped: ${describeError(error)}`));

  say("3. customer: login, quote, booking");
  const customerPhone = phone("8", run);
  await customer.login("customer", customerPhone);
  const quote = await customer.pricing.getQuote({
    pickup: PICKUP,
    drop: DROP,
    vehicleType: "lcv_14ft",
    vehicleCount: 1,
  });
  say(
    `   quote: ₹${Number(quote.quote?.orderTotalPaise ?? 0n) / 100} for ${Number(quote.quote?.distanceM ?? 0n) / 1000} km`,
  );
  const created = await customer.bookings.createBooking({
    quoteToken: quote.quoteToken,
    pickup: address(PICKUP, "Anil Shinde", customerPhone),
    drop: address(DROP, "Kavita Rao", customerPhone),
    vehicleType: "lcv_14ft",
    vehicleCount: 1,
    goodsType: "furniture",
    weightKg: 800,
  });
  const bookingId = created.order!.bookings[0]!.id;
  say(`   order ${created.order!.id}, booking ${bookingId}`);
  const statuses: string[] = [];
  const watched = (async () => {
    for await (const message of customer.watchBooking(bookingId, { signal })) {
      const status = message.booking?.status ?? message.change?.to;
      if (status !== undefined) statuses.push(BookingStatus[status]);
    }
  })();

  say("4. transporter: the offer arrives, accept, assign the driver");
  const offer = await within(20_000, "an offer on WatchOffers", firstOffer);
  const accepted = await transporter.dispatch.acceptOffer({ offerId: offer.id, vehicleCount: 1 });
  say(`   offer ${offer.id} accepted: booking ${accepted.bookingIds.join(", ")}`);
  await transporter.dispatch.assignDriver({ bookingId, driverId, vehicleId: vehicle!.id });
  say(`   driver ${driverId} assigned`);

  say("5. driver: statuses along the road, with the pickup and delivery codes");
  const move = async (status: BookingStatus, code = "") => {
    await driver.bookings.updateBookingStatus({ bookingId, status, code });
    say(`   ${BookingStatus[status]}`);
  };
  await move(BookingStatus.DRIVER_EN_ROUTE);
  await driveTo(PICKUP);
  await move(BookingStatus.AT_PICKUP);
  const { booking } = await customer.bookings.getBooking({ bookingId });
  say(`   the customer reads the pickup code ${booking!.pickupCode} and the delivery code ${booking!.deliveryCode}`);
  await move(BookingStatus.IN_TRANSIT, booking!.pickupCode);
  await driveTo(DROP);
  await move(BookingStatus.AT_DROPOFF);
  await move(BookingStatus.COMPLETED, booking!.deliveryCode);

  say("6. delivered: the customer's stream and inbox");
  await within(10_000, "the end of WatchBooking", watched);
  say(`   WatchBooking: ${statuses.join(" → ")}`);
  const inbox = await customer.notifications.listNotifications({ pageSize: 20 });
  for (const item of inbox.notifications.slice(0, 5)) say(`   inbox: ${item.title}`);
  say(`   ${inbox.notifications.length} notifications, ${inbox.unreadCount} unread`);
  if (statuses.at(-1) !== "COMPLETED") throw new Error(`the booking ended ${statuses.at(-1)}, not COMPLETED`);
  if (assignments.length > 0) say(`   the driver's app was told of booking ${assignments[0]} on its stream`);
  await upload.stop();
  return { bookingId, statuses, pointsAcked: upload.acked, inbox: inbox.notifications.length };
}
