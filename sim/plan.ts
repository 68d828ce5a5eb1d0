/**
 * The city and its orders as pure functions of the seed: which hubs, which transporters with
 * how many trucks of which type where, and for order k who books what from where to where,
 * how many trucks, and whether they cancel. Identities (phones, registrations) carry a
 * per-run tag so the same seed can run again against the same database.
 */
import { distanceM, offset, pointNear, PUNE_HUBS, type Hub, type LatLng } from "./geo.js";
import type { SimConfig } from "./profiles.js";
import { rngFor } from "./random.js";

export interface TruckPlan {
  vehicleType: string;
  /** Where the truck (and its driver) starts the day. */
  start: LatLng;
  registration: string;
  driverPhone: string;
  driverName: string;
  licence: string;
}

export interface TransporterPlan {
  index: number;
  phone: string;
  hub: Hub;
  base: LatLng;
  serviceRadiusKm: number;
  trucks: TruckPlan[];
}

export interface OrderPlan {
  index: number;
  customer: number;
  hub: Hub;
  pickup: LatLng;
  drop: LatLng;
  vehicleType: string;
  vehicleCount: number;
  goodsType: string;
  weightKg: number;
  /** Cancel one of the order's bookings this long after booking, or never. */
  cancelAfterMs: number | undefined;
}

const FIRST_NAMES = [
  "Anil",
  "Sunil",
  "Ganesh",
  "Mahesh",
  "Rahul",
  "Santosh",
  "Vijay",
  "Prakash",
  "Ramesh",
  "Sachin",
  "Kavita",
  "Sneha",
  "Pooja",
  "Amol",
  "Nitin",
  "Rohit",
];
const LAST_NAMES = [
  "Shinde",
  "Patil",
  "Jadhav",
  "More",
  "Pawar",
  "Kulkarni",
  "Deshmukh",
  "Gaikwad",
  "Kale",
  "Joshi",
  "Bhosale",
  "Chavan",
];
const GOODS = [
  "furniture",
  "electronics",
  "auto parts",
  "textiles",
  "FMCG cartons",
  "steel pipes",
  "vegetables",
  "cement bags",
];
/** Weight carried per truck type, kilograms (below the catalog's capacity). */
const LOADS: Record<string, [number, number]> = {
  mini_truck: [200, 700],
  pickup_8ft: [300, 1200],
  lcv_10ft: [500, 2400],
  lcv_14ft: [800, 3800],
};
/** Letters of registration series (I and O are not used). */
const SERIES = "ABCDEFGHJKLMNPRSTUVWXYZ";

/** A run tag: 4 digits that make this run's phones and registrations its own. */
export function runTag(random = Math.random): string {
  return String(Math.floor(random() * 10_000)).padStart(4, "0");
}

/** A valid Indian mobile number for role and index in this run: first digit by role, then the tag, then the index. */
export function phoneFor(role: "customer" | "transporter" | "driver", tag: string, index: number): string {
  const lead = role === "customer" ? "8" : role === "transporter" ? "7" : "9";
  return `${lead}${tag}${String(index).padStart(5, "0")}`;
}

/** A Pune (MH12) registration, unique in the run: the series comes from the tag, the number from the index. */
export function registrationFor(tag: string, index: number): string {
  const t = Number(tag);
  return `MH12${SERIES[t % SERIES.length]}${SERIES[Math.floor(t / SERIES.length) % SERIES.length]}${String(1 + (index % 9999)).padStart(4, "0")}`;
}

export function hubsOf(config: SimConfig): Hub[] {
  return PUNE_HUBS.slice(0, Math.max(1, Math.min(config.hubs, PUNE_HUBS.length)));
}

/** The transporters of the city with their fleets. */
export function planCity(config: SimConfig, tag: string): TransporterPlan[] {
  const hubs = hubsOf(config);
  const plans: TransporterPlan[] = [];
  let truckIndex = 0;
  for (let t = 0; t < config.transporters; t++) {
    const rng = rngFor(config.seed, "transporter", t);
    const hub = hubs[t % hubs.length]!;
    const base = pointNear(rng, hub, 0, config.baseSpreadM);
    const count = rng.int(config.trucksMin, config.trucksMax);
    const trucks: TruckPlan[] = [];
    for (let k = 0; k < count; k++) {
      // Every transporter has at least one truck of each type while it has trucks to spare.
      const vehicleType =
        k < config.vehicleTypes.length
          ? config.vehicleTypes[(t + k) % config.vehicleTypes.length]!
          : rng.pick(config.vehicleTypes);
      const name = `${rng.pick(FIRST_NAMES)} ${rng.pick(LAST_NAMES)}`;
      trucks.push({
        vehicleType,
        start: pointNear(rng, hub, 0, config.baseSpreadM),
        registration: registrationFor(tag, truckIndex),
        driverPhone: phoneFor("driver", tag, truckIndex),
        driverName: name,
        licence: `MH12 20${String(10 + (truckIndex % 15)).padStart(2, "0")}${String(truckIndex).padStart(7, "0")}`,
      });
      truckIndex += 1;
    }
    plans.push({ index: t, phone: phoneFor("transporter", tag, t), hub, base, serviceRadiusKm: 5, trucks });
  }
  return plans;
}

/** Order k of the run. */
export function planOrder(config: SimConfig, index: number): OrderPlan {
  const rng = rngFor(config.seed, "order", index);
  const hubs = hubsOf(config);
  const hub = rng.pick(hubs);
  const pickup = pointNear(rng, hub, 0, config.pickupSpreadM);
  const drop = offset(pickup, rng.between(0, 360), rng.between(config.tripMinM, config.tripMaxM));
  const vehicleType = rng.pick(config.vehicleTypes);
  const vehicleCount = rng.chance(config.multiTruckShare) ? rng.int(2, Math.max(2, config.maxTrucksPerOrder)) : 1;
  const [minKg, maxKg] = LOADS[vehicleType] ?? [100, 500];
  return {
    index,
    customer: rng.int(0, config.customers - 1),
    hub,
    pickup,
    drop,
    vehicleType,
    vehicleCount,
    goodsType: rng.pick(GOODS),
    weightKg: Math.round(rng.between(minKg, maxKg)),
    cancelAfterMs: rng.chance(config.cancelShare) ? Math.round(rng.between(1000, 15_000)) : undefined,
  };
}

/** When the orders of the window are placed (ms after its start): Poisson arrivals at the configured rate. */
export function orderTimes(config: SimConfig): number[] {
  const rng = rngFor(config.seed, "arrivals");
  const meanGapMs = 60_000 / config.ordersPerMinute;
  const times: number[] = [];
  for (let at = rng.exponential(meanGapMs); at < config.bookingWindowMs; at += rng.exponential(meanGapMs))
    times.push(Math.round(at));
  return times;
}

/** Whether a transporter declines order k outright (its own seeded choice). */
export function declines(config: SimConfig, transporter: number, order: number): boolean {
  return rngFor(config.seed, "decline", transporter, order).chance(config.declineShare);
}

/** The trip's straight-line length, for reports. */
export function tripLengthM(plan: OrderPlan): number {
  return distanceM(plan.pickup, plan.drop);
}

/**
 * Which free trucks a transporter sends to a pickup: those within maxM of it, nearest first,
 * at most `count` of them (fewer, or none, when the fleet is elsewhere).
 */
export function chooseTrucks<T extends { position: LatLng }>(
  free: readonly T[],
  pickup: LatLng,
  count: number,
  maxM: number,
): T[] {
  return free
    .map((truck) => ({ truck, distance: distanceM(truck.position, pickup) }))
    .filter((c) => c.distance <= maxM)
    .sort((a, b) => a.distance - b.distance)
    .slice(0, Math.max(0, count))
    .map((c) => c.truck);
}
