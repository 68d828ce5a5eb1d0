/**
 * OpsService.WatchFleet: the console's live map. Tracking's WatchFleetPositions (thinned to one
 * position per truck per second, batched, with a snapshot first and on resynchronisation) is
 * turned into compact messages (watch-fleet.rules.ts). Free trucks whose transporter holds an
 * open offer are OFFERED: the set comes from dispatch's ListOfferedTransporters every few
 * seconds; a failed refresh keeps the last set and is logged once until one succeeds again,
 * and never ends the stream.
 */
import type { BoundingBox } from "@weelo/contracts/grpc/weelo/ops/v1/ops";
import type { WatchFleetResponse } from "@weelo/contracts/grpc/weelo/ops/v1/ops_service";
import type {
  WatchFleetPositionsRequest,
  WatchFleetPositionsResponse,
} from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_internal_service";
import { FleetHandles, isWorthSending, type FleetMessage } from "./watch-fleet.rules.js";

export interface FleetWatchDeps {
  /** tracking's TrackingInternalService.WatchFleetPositions over the mesh (grpc-js client). */
  watchFleetPositions(
    request: WatchFleetPositionsRequest,
    signal: AbortSignal,
  ): AsyncIterable<WatchFleetPositionsResponse>;
  /** dispatch's DispatchOpsService.ListOfferedTransporters. */
  listOfferedTransporters(signal: AbortSignal): Promise<string[]>;
  /** Where a failed refresh of the offered transporters is told (once until one succeeds). */
  logger?: { warn(object: object, message: string): void };
  /** How often the offered transporters are asked (ms); default 3000. */
  offeredRefreshMs?: number;
  now?: () => Date;
}

export const OFFERED_REFRESH_MS = 3000;
/** Each truck at most once a second: the console's budget (10k trucks under 1 MB/s). */
const MIN_INTERVAL_MS = 1000;
const FIRST_OFFERS_WAIT_MS = 1000;

const delay = (ms: number) => new Promise<Event>((resolve) => setTimeout(() => resolve({ kind: "tick" }), ms).unref());

type Event =
  | { kind: "batch"; result: IteratorResult<WatchFleetPositionsResponse> }
  | { kind: "offered"; transporters: Set<string> | undefined }
  | { kind: "tick" }
  | { kind: "aborted" };

export async function* watchFleet(
  deps: FleetWatchDeps,
  bounds: BoundingBox,
  signal: AbortSignal,
): AsyncIterable<WatchFleetResponse> {
  const refreshMs = deps.offeredRefreshMs ?? OFFERED_REFRESH_MS;
  const now = deps.now ?? (() => new Date());
  const upstream = new AbortController();
  const stopUpstream = () => upstream.abort();
  signal.addEventListener("abort", stopUpstream, { once: true });

  const handles = new FleetHandles();
  let offered: ReadonlySet<string> = new Set();
  let failing = false;
  const refresh = (): Promise<Event> =>
    deps.listOfferedTransporters(upstream.signal).then(
      (ids): Event => {
        failing = false;
        return { kind: "offered", transporters: new Set(ids) };
      },
      (error: unknown): Event => {
        if (!failing && !upstream.signal.aborted)
          deps.logger?.warn({ err: error }, "could not refresh the offered transporters; the map keeps the last set");
        failing = true;
        return { kind: "offered", transporters: undefined };
      },
    );
  let timer: NodeJS.Timeout | undefined;
  const tick = () =>
    new Promise<Event>((resolve) => {
      timer = setTimeout(() => resolve({ kind: "tick" }), refreshMs);
    });
  const aborted = new Promise<Event>((resolve) => {
    if (signal.aborted) resolve({ kind: "aborted" });
    signal.addEventListener("abort", () => resolve({ kind: "aborted" }), { once: true });
  });

  const iterator = deps
    .watchFleetPositions(
      {
        south: bounds.south,
        west: bounds.west,
        north: bounds.north,
        east: bounds.east,
        minIntervalMs: MIN_INTERVAL_MS,
      },
      upstream.signal,
    )
    [Symbol.asyncIterator]();
  const nextBatch = () => iterator.next().then((result): Event => ({ kind: "batch", result }));
  const send = (message: FleetMessage): WatchFleetResponse => ({ ...message, sentAt: now() });

  try {
    // The first snapshot is coloured with the offers known at the start when they come within a second.
    let offers: Promise<Event> = refresh();
    const early = await Promise.race([offers, delay(FIRST_OFFERS_WAIT_MS), aborted]);
    if (early.kind === "aborted") return;
    if (early.kind === "offered") {
      if (early.transporters) offered = early.transporters;
      offers = tick();
    }
    let batch = nextBatch();
    for (;;) {
      const event = await Promise.race([batch, offers, aborted]);
      if (event.kind === "aborted") return;
      if (event.kind === "batch") {
        if (event.result.done) return;
        batch = nextBatch();
        const message = handles.apply(event.result.value, offered);
        if (isWorthSending(message)) yield send(message);
      } else if (event.kind === "tick") {
        offers = refresh();
      } else {
        offers = tick();
        if (!event.transporters) continue;
        offered = event.transporters;
        const moves = handles.restate(offered);
        if (moves.length > 0) yield send({ snapshot: false, trucks: [], moves, gone: [] });
      }
    }
  } finally {
    if (timer) clearTimeout(timer);
    signal.removeEventListener("abort", stopUpstream);
    upstream.abort();
    // Not awaited: a pending read ends with the cancelled call.
    void iterator.return?.().catch(() => undefined);
  }
}
