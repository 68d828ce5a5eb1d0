/**
 * Which transporters hold a live WatchOffers stream, on any replica: each stream keeps a key
 * in the cache (Redis in production) alive with a TTL, refreshed at a third of it. When the
 * last stream of a transporter on this replica ends the key is deleted; a stream on another
 * replica writes it again within its refresh period, so a doubt means "offline" (a push more)
 * rather than "online" (a missed offer).
 */
import type { Cache } from "@weelo/cache";
import type { Logger } from "@weelo/log";

export class TransporterPresence {
  private readonly local = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly cache: Pick<Cache, "get" | "set" | "del">,
    private readonly ttlMs: number,
    private readonly logger: Logger,
  ) {
    this.timer = setInterval(() => void this.refresh(), Math.max(100, Math.floor(ttlMs / 3)));
    this.timer.unref();
  }

  private key(transporterId: string): string {
    return `dispatch:watching:${transporterId}`;
  }

  /** A stream of the transporter opened here. */
  async enter(transporterId: string): Promise<void> {
    this.local.set(transporterId, (this.local.get(transporterId) ?? 0) + 1);
    await this.cache.set(this.key(transporterId), "1", { ttlMs: this.ttlMs }).catch((error: unknown) => this.logger.warn({ err: error }, "could not record a WatchOffers stream"));
  }

  /** A stream of the transporter ended here. */
  async leave(transporterId: string): Promise<void> {
    const left = (this.local.get(transporterId) ?? 1) - 1;
    if (left > 0) {
      this.local.set(transporterId, left);
      return;
    }
    this.local.delete(transporterId);
    await this.cache.del(this.key(transporterId)).catch(() => undefined);
  }

  /** Whether the transporter has a live stream on some replica; a cache failure counts as no. */
  async online(transporterId: string): Promise<boolean> {
    if (this.local.has(transporterId)) return true;
    try {
      return (await this.cache.get(this.key(transporterId))) !== undefined;
    } catch {
      return false;
    }
  }

  /** Streams open on this replica. */
  get size(): number {
    let n = 0;
    for (const count of this.local.values()) n += count;
    return n;
  }

  private async refresh(): Promise<void> {
    for (const transporterId of this.local.keys()) {
      await this.cache.set(this.key(transporterId), "1", { ttlMs: this.ttlMs }).catch(() => undefined);
    }
  }

  close(): void {
    clearInterval(this.timer);
  }
}
