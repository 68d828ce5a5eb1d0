/**
 * Keeps one WatchFleet stream open for the part of the map shown: a new box (the map moved)
 * reopens it once the map has been still for a moment; a broken stream is reopened after a
 * backoff with jitter (so that every console of a restarted gateway does not come back in the
 * same instant), reset once a batch arrives. Pure of the DOM: the caller gives the stream.
 */
import { backoffMs } from "@weelo/client";
import type { BoundingBox } from "@weelo/contracts/es/weelo/ops/v1/ops_pb";
import type { WatchFleetResponse } from "@weelo/contracts/es/weelo/ops/v1/ops_service_pb";

export type Bounds = Pick<BoundingBox, "south" | "west" | "north" | "east">;

export type FleetStatus =
  | { kind: "connecting" }
  | { kind: "live" }
  | { kind: "retrying"; inMs: number; error: string }
  | { kind: "stopped" };

export interface FleetStreamOptions {
  /** Opens the stream for a box; ends or throws when it breaks; stops when the signal aborts. */
  open(bounds: Bounds, signal: AbortSignal): AsyncIterable<WatchFleetResponse>;
  onBatch(batch: WatchFleetResponse): void;
  onStatus?(status: FleetStatus): void;
  /** Quiet time after the last move of the map before the stream is reopened (ms). */
  debounceMs?: number;
  /** First and longest wait before reopening a broken stream (ms). */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** 0..1 → the random part of each wait (tests pass a fixed one). */
  random?: () => number;
}

/** The server's limit on a side of the box (degrees; WatchFleetRequest.bounds). */
export const MAX_SIDE_DEG = 10;

/** The box clamped to the earth and to the server's limit, around its centre. */
export function clampBounds(bounds: Bounds): Bounds {
  const clamp = (value: number, low: number, high: number) => Math.min(high, Math.max(low, value));
  let { south, west, north, east } = bounds;
  south = clamp(south, -90, 90);
  north = clamp(north, -90, 90);
  west = clamp(west, -180, 180);
  east = clamp(east, -180, 180);
  if (north - south > MAX_SIDE_DEG) {
    const middle = (north + south) / 2;
    [south, north] = [middle - MAX_SIDE_DEG / 2, middle + MAX_SIDE_DEG / 2];
  }
  if (east - west > MAX_SIDE_DEG) {
    const middle = (east + west) / 2;
    [west, east] = [middle - MAX_SIDE_DEG / 2, middle + MAX_SIDE_DEG / 2];
  }
  return { south, west, north, east };
}

export class FleetStream {
  private bounds: Bounds | undefined;
  private controller: AbortController | undefined;
  private debounce: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private generation = 0;
  /** Reopenings in a row without a batch. */
  private failures = 0;
  /** Streams opened since the start (the tests count reopenings). */
  opened = 0;

  constructor(private readonly options: FleetStreamOptions) {}

  /** Watch this box: at once the first time, after the map stands still for a moment after that. */
  watch(bounds: Bounds): void {
    const first = this.bounds === undefined;
    this.bounds = clampBounds(bounds);
    clearTimeout(this.debounce);
    if (first) this.restart();
    else this.debounce = setTimeout(() => this.restart(), this.options.debounceMs ?? 400);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.debounce);
    this.controller?.abort();
    this.options.onStatus?.({ kind: "stopped" });
  }

  private restart(): void {
    if (this.stopped || !this.bounds) return;
    this.controller?.abort();
    this.failures = 0;
    void this.run(this.bounds, ++this.generation);
  }

  private async run(bounds: Bounds, generation: number): Promise<void> {
    const current = () => !this.stopped && generation === this.generation;
    while (current()) {
      const controller = new AbortController();
      this.controller = controller;
      this.options.onStatus?.({ kind: "connecting" });
      let error = "the stream ended";
      try {
        this.opened += 1;
        for await (const batch of this.options.open(bounds, controller.signal)) {
          if (!current()) break;
          if (this.failures > 0 || batch.snapshot) this.options.onStatus?.({ kind: "live" });
          this.failures = 0;
          this.options.onBatch(batch);
        }
      } catch (caught) {
        error = caught instanceof Error ? caught.message : String(caught);
      }
      controller.abort();
      if (!current()) return;
      const inMs = backoffMs(
        this.failures++,
        this.options.backoffMs ?? 500,
        this.options.maxBackoffMs ?? 15_000,
        this.options.random ?? Math.random,
      );
      this.options.onStatus?.({ kind: "retrying", inMs, error });
      await new Promise((resolve) => setTimeout(resolve, inMs));
    }
  }
}
