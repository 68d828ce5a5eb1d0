/**
 * How late this process's event loop runs, from Node's own delay histogram
 * (perf_hooks.monitorEventLoopDelay, the signal @fastify/under-pressure reads too; the
 * toobusy-js family polls a timer of its own and is no longer maintained): the longest delay
 * seen in the last window. A saturated process answers nothing, not even a refusal, sooner
 * than its loop comes round, so admission reads this to stop making calls wait in a line
 * whose waits would end late anyway.
 */
import { type IntervalHistogram, monitorEventLoopDelay } from "node:perf_hooks";

export interface EventLoopLagOptions {
  /** Length of a window; the figure is the last closed window's. Default 100 ms. */
  windowMs?: number;
  /** Sampling timer of the histogram. Default 5 ms. */
  resolutionMs?: number;
}

export class EventLoopLag {
  private readonly histogram: IntervalHistogram;
  private readonly timer: NodeJS.Timeout;
  private lastMs = 0;

  constructor(options: EventLoopLagOptions = {}) {
    const resolutionMs = options.resolutionMs ?? 5;
    this.histogram = monitorEventLoopDelay({ resolution: resolutionMs });
    this.histogram.enable();
    const windowMs = options.windowMs ?? 100;
    let closedAt = performance.now();
    this.timer = setInterval(() => {
      const now = performance.now();
      // Each sample is a whole timer interval: the lag is what exceeds the resolution. A loop
      // blocked through the whole window shows in this timer's own lateness.
      const sampled = this.histogram.count > 0 ? this.histogram.max / 1e6 - resolutionMs : 0;
      this.lastMs = Math.max(0, sampled, now - closedAt - windowMs);
      closedAt = now;
      this.histogram.reset();
    }, windowMs);
    this.timer.unref();
  }

  /** The longest the loop ran late (ms) in the last window. */
  get ms(): number {
    return this.lastMs;
  }

  stop(): void {
    clearInterval(this.timer);
    this.histogram.disable();
  }
}
