/**
 * The shapes of a run. `short` is CI's system test (under two minutes of simulation on one
 * hub); `full` is the documented run (several hubs, a few hundred trips' worth of load for
 * a 2-core machine). Every field can be overridden from the command line.
 */

export interface SimConfig {
  /** Seed of every random choice. */
  seed: number;
  /** How long customers keep booking, ms. */
  bookingWindowMs: number;
  /** How long the run waits after the window for trips to finish, at most, ms. */
  drainMs: number;
  /** Orders placed per minute across the city (Poisson arrivals). */
  ordersPerMinute: number;
  /** Customers (each places orders in turn). */
  customers: number;
  /** Transporters, each with a fleet at a hub. */
  transporters: number;
  /** Trucks (a vehicle and its driver) per transporter, at least and at most. */
  trucksMin: number;
  trucksMax: number;
  /** How many of Pune's hubs the city uses. */
  hubs: number;
  /** Pickups lie up to this far from their hub, metres. */
  pickupSpreadM: number;
  /** Trucks start up to this far from their transporter's hub, metres. */
  baseSpreadM: number;
  /** Pickup to drop, at least and at most, metres (short trips: time runs at the real rate). */
  tripMinM: number;
  tripMaxM: number;
  /** Share of orders of several trucks, and the most trucks in one. */
  multiTruckShare: number;
  maxTrucksPerOrder: number;
  /** Share of orders the customer cancels a booking of, a few seconds after booking. */
  cancelShare: number;
  /** Share of offers a transporter declines outright. */
  declineShare: number;
  /** Truck speed, m/s. */
  speedMps: number;
  /** Time between two GPS fixes of a driver's app, ms. */
  tickMs: number;
  /** GPS error added to moving fixes, metres. */
  gpsJitterM: number;
  /** A transporter sends only trucks this close to the pickup (farther ones decline), metres. */
  maxPickupM: number;
  /** Time spent loading and unloading at a stop, ms. */
  stopMs: number;
  /** Vehicle types of the fleets and orders (pricing catalog ids). */
  vehicleTypes: string[];
  /** How long a transient failure of a call is retried, ms. */
  retryForMs: number;
}

export const PROFILES: Record<"short" | "full", SimConfig> = {
  short: {
    seed: 8,
    bookingWindowMs: 30_000,
    drainMs: 75_000,
    ordersPerMinute: 24,
    customers: 6,
    transporters: 4,
    trucksMin: 2,
    trucksMax: 3,
    hubs: 1,
    pickupSpreadM: 300,
    baseSpreadM: 300,
    tripMinM: 250,
    tripMaxM: 450,
    multiTruckShare: 0.25,
    maxTrucksPerOrder: 3,
    cancelShare: 0.15,
    declineShare: 0.15,
    speedMps: 15,
    tickMs: 1000,
    gpsJitterM: 3,
    maxPickupM: 1500,
    stopMs: 2000,
    vehicleTypes: ["pickup_8ft", "lcv_14ft"],
    retryForMs: 30_000,
  },
  full: {
    seed: 8,
    bookingWindowMs: 6 * 60_000,
    drainMs: 5 * 60_000,
    ordersPerMinute: 30,
    customers: 40,
    transporters: 16,
    trucksMin: 2,
    trucksMax: 5,
    hubs: 4,
    pickupSpreadM: 800,
    baseSpreadM: 600,
    tripMinM: 500,
    tripMaxM: 1500,
    multiTruckShare: 0.2,
    maxTrucksPerOrder: 4,
    cancelShare: 0.1,
    declineShare: 0.1,
    speedMps: 13,
    tickMs: 1000,
    gpsJitterM: 4,
    maxPickupM: 2500,
    stopMs: 4000,
    vehicleTypes: ["mini_truck", "pickup_8ft", "lcv_14ft"],
    retryForMs: 60_000,
  },
};
