/**
 * Road distance and driving time from an OSRM-compatible routing service (OSRM itself, or a
 * service speaking its HTTP API): GET {base}/route/v1/driving/{lng},{lat};{lng},{lat}?overview=false
 * → routes[0].distance (metres) and routes[0].duration (seconds). Every call runs behind a
 * timeout and a circuit breaker; an answer that is not a usable route is an error the caller
 * falls back from.
 */
import { DomainError, GrpcCode, UnavailableError } from "@weelo/errors";
import type { Guard } from "@weelo/resilience";
import type { LatLngPoint } from "./estimate.js";

export interface RoadRoute {
  /** Road distance in metres. */
  distanceM: number;
  /** Driving time in seconds. */
  durationS: number;
}

/** Anything that finds the road route between two points. */
export interface RoadRouter {
  readonly name: string;
  route(from: LatLngPoint, to: LatLngPoint): Promise<RoadRoute>;
}

/**
 * OSRM answered, but with no route between the points (an island, a closed area). The
 * service is healthy, so this does not count toward opening the circuit.
 */
export class NoRouteError extends DomainError {
  constructor(message: string) {
    super(GrpcCode.NOT_FOUND, message, { reason: "ROUTE_NOT_FOUND" });
  }
}

interface OsrmResponse {
  code?: unknown;
  message?: unknown;
  routes?: { distance?: unknown; duration?: unknown }[];
}

export class OsrmClient implements RoadRouter {
  readonly name = "osrm";
  private readonly baseUrl: string;

  constructor(
    baseUrl: string,
    private readonly guard: Guard,
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
  }

  /** The request URL: OSRM takes longitude first. */
  routeUrl(from: LatLngPoint, to: LatLngPoint): string {
    const point = (p: LatLngPoint) => `${p.lng.toFixed(6)},${p.lat.toFixed(6)}`;
    return `${this.baseUrl}/route/v1/driving/${point(from)};${point(to)}?overview=false`;
  }

  route(from: LatLngPoint, to: LatLngPoint): Promise<RoadRoute> {
    const url = this.routeUrl(from, to);
    return this.guard.execute(async (signal) => {
      let response: Response;
      try {
        response = await fetch(url, { headers: { accept: "application/json" }, signal });
      } catch (error) {
        throw new UnavailableError("the routing service could not be reached", {
          reason: "ROUTING_UNAVAILABLE",
          cause: error,
        });
      }
      const text = await response.text().catch(() => "");
      let body: OsrmResponse | undefined;
      try {
        body = JSON.parse(text) as OsrmResponse;
      } catch {
        body = undefined;
      }
      // OSRM answers 400 with code NoRoute/NoSegment when the points cannot be joined by road.
      if (body && (body.code === "NoRoute" || body.code === "NoSegment")) {
        throw new NoRouteError(`no road route between the points (${String(body.code)})`);
      }
      if (!response.ok) {
        throw new UnavailableError("the routing service failed", {
          reason: "ROUTING_UNAVAILABLE",
          cause: new Error(`routing answered ${response.status}: ${text.slice(0, 200)}`),
        });
      }
      const route = body?.code === "Ok" ? body.routes?.[0] : undefined;
      const distance = route?.distance;
      const duration = route?.duration;
      if (
        typeof distance !== "number" ||
        typeof duration !== "number" ||
        !Number.isFinite(distance) ||
        !Number.isFinite(duration) ||
        distance < 0 ||
        duration < 0
      ) {
        throw new UnavailableError("the routing service sent an answer without a usable route", {
          reason: "ROUTING_UNAVAILABLE",
          cause: new Error(`unexpected routing answer: ${text.slice(0, 200)}`),
        });
      }
      return { distanceM: Math.round(distance), durationS: Math.round(duration) };
    });
  }
}
