/**
 * The OSRM client and the distance provider against a local HTTP stand-in of OSRM's
 * /route/v1 API: a route, each way it can fail (500, timeout, garbage, no route, refused
 * connection, open circuit), the fallback to the great-circle estimate, and the route cache.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, beforeEach, describe, it } from "node:test";
import { createCache, type Cache } from "@weelo/cache";
import { DomainError } from "@weelo/errors";
import { createLogger } from "@weelo/log";
import { Metrics } from "@weelo/metrics";
import { createGuard } from "@weelo/resilience";
import { freePort, uniqueSuffix } from "@weelo/testing";
import { createDistanceProvider } from "./distance.js";
import { estimateRoad } from "./estimate.js";
import { OsrmClient } from "./osrm-client.js";

const logger = createLogger({ service: "test", level: "silent" });
const andheri = { lat: 19.1197, lng: 72.8468 };
const vashi = { lat: 19.0771, lng: 72.9986 };
const estimateSettings = { roadFactor: 1.3, averageSpeedKmph: 25 };

type Mode = "ok" | "error500" | "slow" | "garbage" | "no-route" | "empty-routes";

describe("OSRM routing client", () => {
  let server: Server;
  let baseUrl: string;
  let mode: Mode = "ok";
  const requests: string[] = [];

  before(async () => {
    server = createServer(async (req, res) => {
      requests.push(req.url ?? "");
      const match = /^\/route\/v1\/driving\/(-?[\d.]+),(-?[\d.]+);(-?[\d.]+),(-?[\d.]+)\?overview=false$/.exec(
        req.url ?? "",
      );
      if (req.method !== "GET" || !match)
        return res
          .writeHead(400, { "content-type": "application/json" })
          .end('{"code":"InvalidUrl","message":"URL string malformed"}');
      const json = (status: number, body: unknown) =>
        res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
      switch (mode) {
        case "error500":
          return res.writeHead(500).end("Internal Server Error");
        case "slow":
          await new Promise((resolve) => setTimeout(resolve, 400));
          return json(200, { code: "Ok", routes: [{ distance: 1, duration: 1 }] });
        case "garbage":
          return res.writeHead(200, { "content-type": "application/json" }).end("<html>not json");
        case "no-route":
          return json(400, { code: "NoRoute", message: "Impossible route between points" });
        case "empty-routes":
          return json(200, { code: "Ok", routes: [] });
        default:
          return json(200, {
            code: "Ok",
            routes: [
              {
                distance: 21_874.6,
                duration: 2_412.3,
                weight: 2_412.3,
                legs: [{ distance: 21_874.6, duration: 2_412.3, steps: [], summary: "" }],
              },
            ],
            waypoints: [
              { name: "", location: [Number(match[1]), Number(match[2])] },
              { name: "", location: [Number(match[3]), Number(match[4])] },
            ],
          });
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => {
    mode = "ok";
    requests.length = 0;
  });

  const guard = (consecutiveFailures = 5) =>
    createGuard({
      name: "routing-test",
      logger,
      metrics: new Metrics({ defaultMetrics: false }),
      timeoutMs: 150,
      consecutiveFailures,
      halfOpenAfterMs: 60_000,
    });
  const client = (consecutiveFailures = 5, url = baseUrl) => new OsrmClient(url, guard(consecutiveFailures));
  const reasonOf = (promise: Promise<unknown>) =>
    promise.then(
      () => "OK",
      (error: unknown) => (error instanceof DomainError ? error.reason : String(error)),
    );

  it("asks for the driving route, longitude first, without geometry, and rounds the answer", async () => {
    const route = await client(5, `${baseUrl}/`).route(andheri, vashi);
    assert.deepEqual(route, { distanceM: 21_875, durationS: 2_412 });
    assert.deepEqual(requests, ["/route/v1/driving/72.846800,19.119700;72.998600,19.077100?overview=false"]);
  });

  it("turns a 500, a timeout, garbage and an empty answer into UNAVAILABLE", async () => {
    const osrm = client(100);
    mode = "error500";
    assert.equal(await reasonOf(osrm.route(andheri, vashi)), "ROUTING_UNAVAILABLE");
    mode = "slow";
    assert.equal(await reasonOf(osrm.route(andheri, vashi)), "PROVIDER_TIMEOUT");
    mode = "garbage";
    assert.equal(await reasonOf(osrm.route(andheri, vashi)), "ROUTING_UNAVAILABLE");
    mode = "empty-routes";
    assert.equal(await reasonOf(osrm.route(andheri, vashi)), "ROUTING_UNAVAILABLE");
  });

  it("says when there is no road route, without counting it against the service", async () => {
    const osrm = client(1);
    mode = "no-route";
    assert.equal(await reasonOf(osrm.route(andheri, vashi)), "ROUTE_NOT_FOUND");
    assert.equal(await reasonOf(osrm.route(andheri, vashi)), "ROUTE_NOT_FOUND", "the circuit stays closed");
  });

  it("opens the circuit after repeated failures and stops calling", async () => {
    const osrm = client(2);
    mode = "error500";
    await reasonOf(osrm.route(andheri, vashi));
    await reasonOf(osrm.route(andheri, vashi));
    mode = "ok";
    requests.length = 0;
    assert.equal(await reasonOf(osrm.route(andheri, vashi)), "PROVIDER_UNAVAILABLE");
    assert.equal(requests.length, 0, "an open circuit does not call the routing service");
  });

  it("fails fast when nothing listens", async () => {
    const osrm = client(5, `http://127.0.0.1:${await freePort()}`);
    assert.equal(await reasonOf(osrm.route(andheri, vashi)), "ROUTING_UNAVAILABLE");
  });

  describe("distance provider", () => {
    const caches: Cache[] = [];
    const cache = () => {
      const made = createCache({ config: { REDIS_URL: undefined }, keyPrefix: `t:${uniqueSuffix()}:`, logger });
      caches.push(made);
      return made;
    };
    after(async () => {
      for (const made of caches) await made.close();
    });
    const estimate = { ...estimateRoad(andheri, vashi, estimateSettings), source: "great_circle_estimate" };

    it("uses the road route when the router answers", async () => {
      const provider = createDistanceProvider({ router: client(), estimate: estimateSettings, logger });
      assert.deepEqual(await provider.measure(andheri, vashi), {
        distanceM: 21_875,
        durationS: 2_412,
        source: "road_routing",
      });
    });

    for (const failure of ["error500", "slow", "garbage", "no-route", "empty-routes"] as const) {
      it(`falls back to the great-circle estimate on ${failure}`, async () => {
        const provider = createDistanceProvider({ router: client(100), estimate: estimateSettings, logger });
        mode = failure;
        const started = Date.now();
        assert.deepEqual(await provider.measure(andheri, vashi), estimate);
        assert.ok(Date.now() - started < 1000, "the timeout bounds the wait");
      });
    }

    it("estimates without a router and never calls one", async () => {
      const provider = createDistanceProvider({ estimate: estimateSettings, logger });
      assert.deepEqual(await provider.measure(andheri, vashi), estimate);
      assert.equal(requests.length, 0);
    });

    it("reuses a road route for the same points, but not a fallback", async () => {
      const provider = createDistanceProvider({
        router: client(100),
        estimate: estimateSettings,
        cache: { store: cache(), ttlMs: 60_000 },
        logger,
      });
      mode = "error500";
      assert.equal((await provider.measure(andheri, vashi)).source, "great_circle_estimate");
      mode = "ok";
      assert.equal((await provider.measure(andheri, vashi)).source, "road_routing", "a fallback is not cached");
      mode = "error500";
      requests.length = 0;
      assert.deepEqual(await provider.measure(andheri, vashi), {
        distanceM: 21_875,
        durationS: 2_412,
        source: "road_routing",
      });
      assert.equal(requests.length, 0, "served from the cache");
      assert.equal(
        (await provider.measure(vashi, andheri)).source,
        "great_circle_estimate",
        "the other direction is another route",
      );
    });
  });
});
