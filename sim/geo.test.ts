/** Routes, the city plan and the seeded randomness: what makes a run repeatable and its points acceptable. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ARRIVAL_SPEED_MPS, bearingDeg, distanceM, maxImpliedSpeedKmph, offset, PUNE_HUBS, route } from "./geo.js";
import { chooseTrucks, orderTimes, phoneFor, planCity, planOrder, registrationFor } from "./plan.js";
import { PROFILES } from "./profiles.js";
import { createRng, rngFor } from "./random.js";

const HINJEWADI = PUNE_HUBS[0]!;

describe("seeded randomness", () => {
  it("repeats for the same seed and names, and differs for others", () => {
    const a = rngFor(8, "order", 3);
    const b = rngFor(8, "order", 3);
    const first = Array.from({ length: 5 }, () => a.next());
    assert.deepEqual(
      Array.from({ length: 5 }, () => b.next()),
      first,
    );
    assert.notDeepEqual(
      Array.from({ length: 5 }, () => rngFor(8, "order", 4).next()),
      first,
    );
    assert.notDeepEqual(
      Array.from({ length: 5 }, () => rngFor(9, "order", 3).next()),
      first,
    );
  });

  it("stays in range and is roughly uniform", () => {
    const rng = createRng(42);
    const buckets = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) {
      const v = rng.int(0, 3);
      assert.ok(v >= 0 && v <= 3);
      buckets[v]! += 1;
    }
    for (const n of buckets) assert.ok(n > 850 && n < 1150, `bucket of ${n} out of 4000`);
    let sum = 0;
    for (let i = 0; i < 4000; i++) sum += rng.exponential(100);
    assert.ok(Math.abs(sum / 4000 - 100) < 10, `mean of exponential waits ${sum / 4000}`);
  });
});

describe("geometry", () => {
  it("offsets a point by a distance and bearing and measures it back", () => {
    const to = offset(HINJEWADI, 45, 1000);
    assert.ok(Math.abs(distanceM(HINJEWADI, to) - 1000) < 0.5);
    assert.ok(Math.abs(bearingDeg(HINJEWADI, to) - 45) < 0.1);
  });

  it("drives a straight route at truck speed, one fix per tick, ending exactly at the stop", () => {
    const to = offset(HINJEWADI, 90, 1200);
    const points = route(createRng(1), HINJEWADI, to, { speedMps: 12, tickMs: 1000, jitterM: 0, dogLeg: false });
    assert.equal(points.length, 100, "1200 m at 12 m/s: 99 fixes on the way and the arrival");
    assert.deepEqual({ lat: points.at(-1)!.lat, lng: points.at(-1)!.lng }, to);
    assert.equal(
      points.at(-1)!.speedMps,
      ARRIVAL_SPEED_MPS,
      "the arrival fix is rolling, never a parked truck's jitter",
    );
    for (let i = 1; i < points.length - 1; i++) assert.ok(Math.abs(distanceM(points[i - 1]!, points[i]!) - 12) < 0.1);
    assert.ok(
      points.every((p) => p.speedMps > 0.5),
      "every moving fix reports a speed",
    );
  });

  it("drives a dog-leg with GPS jitter that the server's filters accept (under 150 km/h between fixes)", () => {
    const rng = createRng(7);
    for (let trial = 0; trial < 50; trial++) {
      const from = offset(HINJEWADI, rng.between(0, 360), rng.between(0, 800));
      const to = offset(from, rng.between(0, 360), rng.between(250, 1500));
      const points = route(rng, from, to, { speedMps: 15, tickMs: 1000, jitterM: 4, dogLeg: true });
      assert.ok(maxImpliedSpeedKmph([from, ...points], 1000) < 90, "no jump a truck could not make");
      const driven = points.reduce((sum, p, i) => sum + distanceM(i === 0 ? from : points[i - 1]!, p), 0);
      assert.ok(driven >= distanceM(from, to) - 10, "a dog-leg is never shorter than the straight line");
      assert.deepEqual(
        { lat: points.at(-1)!.lat, lng: points.at(-1)!.lng },
        { lat: Math.round(to.lat * 1e7) / 1e7, lng: Math.round(to.lng * 1e7) / 1e7 },
      );
    }
  });

  it("gives a route of one fix when already there", () => {
    const points = route(createRng(1), HINJEWADI, HINJEWADI, { speedMps: 12, tickMs: 1000, jitterM: 3, dogLeg: true });
    assert.equal(points.length, 1);
  });
});

describe("the city plan", () => {
  const config = PROFILES.full;

  it("is the same city for the same seed; only the run tag in identities differs", () => {
    const a = planCity(config, "0001");
    const b = planCity(config, "0002");
    assert.equal(a.length, config.transporters);
    assert.deepEqual(
      a.map((t) => t.trucks.map((k) => [k.vehicleType, k.start])),
      b.map((t) => t.trucks.map((k) => [k.vehicleType, k.start])),
    );
    assert.notEqual(a[0]!.trucks[0]!.driverPhone, b[0]!.trucks[0]!.driverPhone);
    const other = planCity({ ...config, seed: 9 }, "0001");
    assert.notDeepEqual(
      other.map((t) => t.base),
      a.map((t) => t.base),
    );
  });

  it("gives every truck a valid, unique phone and registration, near its hub", () => {
    const plans = planCity(config, "4711");
    const trucks = plans.flatMap((t) => t.trucks.map((k) => ({ ...k, hub: t.hub })));
    assert.equal(new Set(trucks.map((k) => k.driverPhone)).size, trucks.length);
    assert.equal(new Set(trucks.map((k) => k.registration)).size, trucks.length);
    for (const truck of trucks) {
      assert.match(truck.driverPhone, /^9\d{9}$/);
      assert.match(truck.registration, /^MH12[A-HJ-NP-Z]{2}\d{4}$/);
      assert.ok(distanceM(truck.hub, truck.start) <= config.baseSpreadM + 1);
    }
    for (const transporter of plans) {
      assert.ok(transporter.trucks.length >= config.trucksMin && transporter.trucks.length <= config.trucksMax);
      const types = new Set(transporter.trucks.map((k) => k.vehicleType));
      assert.equal(
        types.size,
        Math.min(transporter.trucks.length, config.vehicleTypes.length),
        "each type while trucks last",
      );
    }
    assert.match(phoneFor("customer", "0042", 7), /^8004200007$/);
    assert.equal(registrationFor("0000", 0), "MH12AA0001");
  });

  it("plans orders inside the city: short trips near a hub, counts and loads within limits", () => {
    for (let k = 0; k < 300; k++) {
      const order = planOrder(config, k);
      assert.deepEqual(order, planOrder(config, k), "the same order for the same index");
      const trip = distanceM(order.pickup, order.drop);
      assert.ok(trip >= config.tripMinM - 1 && trip <= config.tripMaxM + 1, `trip of ${trip} m`);
      assert.ok(distanceM(order.hub, order.pickup) <= config.pickupSpreadM + 1);
      assert.ok(order.vehicleCount >= 1 && order.vehicleCount <= config.maxTrucksPerOrder);
      assert.ok(order.customer >= 0 && order.customer < config.customers);
      assert.ok(config.vehicleTypes.includes(order.vehicleType));
      assert.ok(order.weightKg > 0 && order.weightKg <= 4000);
    }
    const multi = Array.from({ length: 1000 }, (_, k) => planOrder(config, k)).filter((o) => o.vehicleCount > 1).length;
    assert.ok(
      multi > 120 && multi < 280,
      `${multi} multi-truck orders of 1000 at a share of ${config.multiTruckShare}`,
    );
  });

  it("spaces orders as Poisson arrivals at the configured rate within the window", () => {
    const times = orderTimes({ ...config, ordersPerMinute: 60, bookingWindowMs: 600_000 });
    assert.ok(times.length > 520 && times.length < 680, `${times.length} orders in 10 minutes at 60/min`);
    assert.deepEqual(
      times,
      [...times].sort((a, b) => a - b),
    );
    assert.ok(times.every((t) => t >= 0 && t < 600_000));
    assert.deepEqual(times, orderTimes({ ...config, ordersPerMinute: 60, bookingWindowMs: 600_000 }));
  });
});

describe("a transporter's choice of trucks", () => {
  it("sends the nearest free trucks within reach, no more than asked", () => {
    const pickup = HINJEWADI;
    const at = (m: number, id: string) => ({ id, position: offset(pickup, 90, m) });
    const free = [at(2000, "far"), at(300, "near"), at(900, "mid"), at(5000, "elsewhere")];
    assert.deepEqual(
      chooseTrucks(free, pickup, 2, 2500).map((t) => t.id),
      ["near", "mid"],
    );
    assert.deepEqual(
      chooseTrucks(free, pickup, 5, 2500).map((t) => t.id),
      ["near", "mid", "far"],
      "fewer than asked when the rest is out of reach",
    );
    assert.deepEqual(chooseTrucks(free, pickup, 3, 100), [], "none near");
    assert.deepEqual(chooseTrucks([], pickup, 3, 2500), []);
  });
});
