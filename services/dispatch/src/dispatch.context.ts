/**
 * What every dispatch use case shares: its dependencies, the clock, the subject root, the
 * metrics and the offer conversion. dispatch.service.ts builds it once and hands it to each
 * use case's file.
 */
import type { Bus } from "@weelo/bus";
import type { Offer } from "@weelo/contracts/grpc/weelo/dispatch/v1/dispatch";
import type { Logger } from "@weelo/log";
import type { Registry } from "prom-client";
import { offerToProto, type OfferTrip } from "./dispatch.convert.js";
import { dispatchMetrics } from "./dispatch.metrics.js";
import type * as repo from "./dispatch.repository.js";
import type { WavePlan } from "./dispatch.rules.js";
import type { OfferRow } from "./dispatch.table.js";
import type { TransporterPresence } from "./presence.js";
import type { DispatchUpstreams } from "./upstreams.js";

export interface DispatchSettings {
  plan: WavePlan;
  gatherMs: number;
  maxOffersPerWave: number;
  assignDeadlineMs: number;
  leaseMs: number;
  bookingCallRetryMs: number;
  watchResyncMs: number;
}

export interface DispatchDeps {
  db: repo.DispatchDb;
  bus: Pick<Bus, "publish" | "subscribe">;
  upstreams: DispatchUpstreams;
  presence: TransporterPresence;
  events: {
    /** First token of dispatch's subjects ("dispatch" outside tests). */
    subjectRoot: string;
    /** Called after a transaction that wrote events commits: the outbox relay publishes them. */
    committed(): void;
  };
  settings: DispatchSettings;
  logger: Logger;
  registry: Registry;
  /** Aborted when the process starts shutting down: WatchOffers streams end (apps reconnect elsewhere). */
  closing?: AbortSignal;
  /** The clock (tests move it). */
  now?: () => Date;
}

export function createDispatchContext(deps: DispatchDeps) {
  const now = deps.now ?? (() => new Date());
  return {
    ...deps,
    now,
    root: deps.events.subjectRoot,
    metrics: dispatchMetrics(deps.registry),
    later: (ms: number, from = now()) => new Date(from.getTime() + ms),
    offersOf: (rows: readonly OfferRow[], trip: OfferTrip): Offer[] => rows.map((row) => offerToProto(row, trip)),
  };
}

export type DispatchContext = ReturnType<typeof createDispatchContext>;
