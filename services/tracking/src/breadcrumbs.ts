/**
 * Batches trip breadcrumbs into Postgres: a batch is written when BREADCRUMB_BATCH_SIZE
 * points wait or BREADCRUMB_FLUSH_MS after the first one, whichever comes first, one batch
 * at a time. add() resolves once the point's batch committed: acks wait for it. A failed
 * write is retried (with backoff) and never dropped; close() writes everything left.
 */
import type { Logger } from "@weelo/log";
import type { Kysely } from "kysely";
import { insertBreadcrumbs, type BreadcrumbRow } from "./tracking.repository.js";
import type { TrackingDatabase } from "./tracking.table.js";

interface Waiting {
  rows: BreadcrumbRow[];
  resolve(): void;
  reject(error: unknown): void;
}

export interface BreadcrumbWriterOptions {
  db: Kysely<TrackingDatabase>;
  logger: Logger;
  flushMs: number;
  batchSize: number;
  /** ready() waits while this many rows wait. */
  maxPending: number;
  /** Called after each committed batch with its size and duration. */
  onBatch?(rows: number, seconds: number): void;
}

export class BreadcrumbWriter {
  private waiting: Waiting[] = [];
  private pendingRows = 0;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private closed = false;
  private retryDelayMs = 50;
  private readyWaiters: (() => void)[] = [];

  constructor(private readonly options: BreadcrumbWriterOptions) {}

  /** Rows waiting to be written (for metrics and tests). */
  get pending(): number {
    return this.pendingRows;
  }

  /** Resolves when the rows are committed. */
  add(rows: BreadcrumbRow[]): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    if (this.closed) return Promise.reject(new Error("breadcrumb writer is closed"));
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ rows, resolve, reject });
      this.pendingRows += rows.length;
      if (this.pendingRows >= this.options.batchSize) this.kick();
      else this.timer ??= setTimeout(() => this.kick(), this.options.flushMs);
    });
  }

  /** True while fewer than maxPending rows wait (readers need not wait for ready()). */
  get accepting(): boolean {
    return this.pendingRows < this.options.maxPending;
  }

  /** Resolves when fewer than maxPending rows wait (backpressure for readers of streams). */
  ready(): Promise<void> {
    if (this.pendingRows < this.options.maxPending) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  /** Writes everything waiting now; resolves when it is committed. */
  async flush(): Promise<void> {
    while (this.waiting.length > 0 || this.writing) {
      this.kick();
      await this.writing;
    }
  }

  /** Refuses new rows and writes the rest. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private kick(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.writing || this.waiting.length === 0) return;
    this.writing = this.writeBatch().finally(() => {
      this.writing = undefined;
      if (this.waiting.length > 0) {
        if (this.pendingRows >= this.options.batchSize || this.closed) this.kick();
        else this.timer ??= setTimeout(() => this.kick(), this.options.flushMs);
      }
    });
  }

  private async writeBatch(): Promise<void> {
    const batch: Waiting[] = [];
    let size = 0;
    while (this.waiting.length > 0 && size < this.options.batchSize * 4) {
      const next = this.waiting.shift()!;
      batch.push(next);
      size += next.rows.length;
    }
    const started = performance.now();
    try {
      await insertBreadcrumbs(
        this.options.db,
        batch.flatMap((w) => w.rows),
      );
    } catch (error) {
      this.options.logger.error(
        { err: error, rows: size, retryInMs: this.retryDelayMs },
        "writing breadcrumbs failed; retrying",
      );
      this.waiting.unshift(...batch);
      await new Promise((resolve) => setTimeout(resolve, this.retryDelayMs));
      this.retryDelayMs = Math.min(this.retryDelayMs * 2, 5000);
      return;
    }
    this.retryDelayMs = 50;
    this.pendingRows -= size;
    this.options.onBatch?.(size, (performance.now() - started) / 1000);
    for (const w of batch) w.resolve();
    if (this.pendingRows < this.options.maxPending) for (const resolve of this.readyWaiters.splice(0)) resolve();
  }
}
