/**
 * An adaptive concurrency limit in the manner of Netflix's concurrency-limits Gradient2: the
 * limit follows the ratio of the long-term round-trip time (a slow exponential average, the
 * "normal" latency) to the short-term one (the average of the last sampling window). While
 * calls take no longer than usual (within `tolerance`), the limit grows by a small queue
 * allowance each window; when they start queueing somewhere (latency rises), the gradient
 * drops below 1 and the limit shrinks towards what the system serves without queueing.
 *
 * No npm library implements this (checked: npm has fixed-size semaphores and p-limit clones
 * only), so it is written here: pure arithmetic over samples, the clock passed in, so it is
 * tested deterministically.
 */

export interface GradientLimitSettings {
  /** Limit before any sample. */
  initialLimit: number;
  minLimit: number;
  maxLimit: number;
  /** Latency may grow by this factor over the long-term average before the limit shrinks. Default 1.5. */
  tolerance?: number;
  /** Weight of a new estimate against the current limit (0..1). Default 0.2. */
  smoothing?: number;
  /** Windows averaged by the long-term RTT (exponential). Default 600. */
  longWindow?: number;
  /** Growth allowance per window, from the current limit. Default: 4, or √limit when larger. */
  queueSize?: (limit: number) => number;
  /** A window closes after at least this long and `windowSamples` samples... */
  minWindowMs?: number;
  /** ...or after this long with any sample at all. */
  maxWindowMs?: number;
  windowSamples?: number;
  /** Limit factor when a window saw a dropped call (an upstream timeout or overload answer). Default 0.9. */
  backoffRatio?: number;
  /**
   * Read when a window closes: true when the resource the calls share is saturated whatever
   * their round trips say (e.g. the event loop runs late), and the limit backs off as for a
   * dropped call. Round trips alone cannot see this when the load was there from the start: the
   * long-term average then learns the saturated latency as normal.
   */
  congested?: () => boolean;
}

/** Samples below this are not a round trip (a cached or refused answer): they would drag the averages down. */
const MIN_RTT_MS = 0.1;
/** Windows averaged plainly before the long-term average turns exponential. */
const WARMUP_WINDOWS = 10;

export class GradientLimit {
  private estimated: number;
  private longRtt = 0;
  private longSamples = 0;
  private lastRtt = 0;
  private window = { startedAt: Number.NaN, rttSum: 0, samples: 0, maxInflight: 0, dropped: false };
  private readonly tolerance: number;
  private readonly smoothing: number;
  private readonly longWindow: number;
  private readonly queueSize: (limit: number) => number;
  private readonly minWindowMs: number;
  private readonly maxWindowMs: number;
  private readonly windowSamples: number;
  private readonly backoffRatio: number;

  constructor(readonly settings: GradientLimitSettings) {
    if (settings.minLimit < 1 || settings.maxLimit < settings.minLimit)
      throw new RangeError(`bad limits: min ${settings.minLimit}, max ${settings.maxLimit}`);
    this.estimated = clamp(settings.initialLimit, settings.minLimit, settings.maxLimit);
    this.tolerance = settings.tolerance ?? 1.5;
    this.smoothing = settings.smoothing ?? 0.2;
    this.longWindow = settings.longWindow ?? 600;
    this.queueSize = settings.queueSize ?? ((limit) => Math.max(4, Math.sqrt(limit)));
    this.minWindowMs = settings.minWindowMs ?? 100;
    this.maxWindowMs = settings.maxWindowMs ?? 1000;
    this.windowSamples = settings.windowSamples ?? 10;
    this.backoffRatio = settings.backoffRatio ?? 0.9;
  }

  /** Calls allowed in flight now (whole calls). */
  get limit(): number {
    return Math.floor(this.estimated);
  }

  /** The long-term and the last window's RTT (ms), for metrics and tests. */
  get rtt(): { long: number; short: number } {
    return { long: this.longRtt, short: this.lastRtt };
  }

  /**
   * One finished call: when it ended (`now`, ms on any monotonic clock), how long it took,
   * how many calls were in flight when it started, and whether it was dropped (timed out or
   * refused upstream). The limit moves when a sampling window closes.
   */
  addSample(now: number, rttMs: number, inflight: number, dropped = false): void {
    const w = this.window;
    if (Number.isNaN(w.startedAt)) w.startedAt = now;
    if (dropped) w.dropped = true;
    else if (rttMs >= MIN_RTT_MS) {
      w.rttSum += rttMs;
      w.samples += 1;
    }
    w.maxInflight = Math.max(w.maxInflight, inflight);
    const elapsed = now - w.startedAt;
    const full = elapsed >= this.minWindowMs && w.samples >= this.windowSamples;
    if (!full && !(elapsed >= this.maxWindowMs && (w.samples > 0 || w.dropped))) return;
    this.update(w.samples > 0 ? w.rttSum / w.samples : 0, w.maxInflight, w.dropped);
    this.window = { startedAt: now, rttSum: 0, samples: 0, maxInflight: 0, dropped: false };
  }

  private update(shortRtt: number, inflight: number, dropped: boolean): void {
    const { minLimit, maxLimit } = this.settings;
    if (dropped || (inflight >= this.estimated / 2 && this.settings.congested?.())) {
      this.estimated = clamp(this.estimated * this.backoffRatio, minLimit, maxLimit);
      return;
    }
    this.lastRtt = shortRtt;
    this.longSamples += 1;
    this.longRtt =
      this.longSamples <= WARMUP_WINDOWS
        ? this.longRtt + (shortRtt - this.longRtt) / this.longSamples
        : this.longRtt + (shortRtt - this.longRtt) * (2 / (this.longWindow + 1));
    // Latency back to normal after a long overload: let the long-term average catch up faster.
    if (this.longRtt / shortRtt > 2) this.longRtt *= 0.95;
    // Too few calls to learn anything about the limit (the caller, not the server, set the pace).
    if (inflight < this.estimated / 2) return;
    const gradient = clamp((this.tolerance * this.longRtt) / shortRtt, 0.5, 1);
    const target = this.estimated * gradient + this.queueSize(this.estimated);
    this.estimated = clamp(this.estimated * (1 - this.smoothing) + target * this.smoothing, minLimit, maxLimit);
  }
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
