/** Dispatch's Prometheus metrics, registered once per registry (a second service on the same registry reuses them). */
import { Counter, Histogram, type Registry } from "prom-client";

export type DispatchMetrics = ReturnType<typeof dispatchMetrics>;

export function dispatchMetrics(registry: Registry) {
  const existing = registry.getSingleMetric("weelo_dispatch_offers_total");
  if (existing) {
    return {
      offers: existing as Counter<"outcome">,
      accepts: registry.getSingleMetric("weelo_dispatch_accepts_total") as Counter<"result">,
      waves: registry.getSingleMetric("weelo_dispatch_waves_total") as Counter<"step">,
      bookingCalls: registry.getSingleMetric("weelo_dispatch_booking_calls_total") as Counter<"call" | "result">,
      waveSeconds: registry.getSingleMetric("weelo_dispatch_wave_duration_seconds") as Histogram<"step">,
    };
  }
  return {
    offers: new Counter({
      name: "weelo_dispatch_offers_total",
      help: "Offers by what became of them.",
      labelNames: ["outcome"],
      registers: [registry],
    }),
    accepts: new Counter({
      name: "weelo_dispatch_accepts_total",
      help: "AcceptOffer calls by result.",
      labelNames: ["result"],
      registers: [registry],
    }),
    waves: new Counter({
      name: "weelo_dispatch_waves_total",
      help: "Broadcast steps run (wave or expiry).",
      labelNames: ["step"],
      registers: [registry],
    }),
    bookingCalls: new Counter({
      name: "weelo_dispatch_booking_calls_total",
      help: "Calls dispatch owed booking, by call and result (ok, retry, refused).",
      labelNames: ["call", "result"],
      registers: [registry],
    }),
    waveSeconds: new Histogram({
      name: "weelo_dispatch_wave_duration_seconds",
      help: "Time to run one broadcast step: candidates, offers, events.",
      labelNames: ["step"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
  };
}
