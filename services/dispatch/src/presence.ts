/**
 * Which transporters hold a live WatchOffers stream, on any replica: each stream keeps a key
 * in the cache (Redis in production) alive with a TTL, refreshed at a third of it. When the
 * last stream of a transporter on this replica ends the key is deleted; a stream on another
 * replica writes it again within its refresh period, so a doubt means "offline" (a push more)
 * rather than "online" (a missed offer).
 */
import type { Cache } from "@weelo/cache";
import type { Logger } from "@weelo/log";
import { startPolling, type Polling } from "@weelo/runtime/polling";

export class TransporterPresence {
  private readonly local = new Map<string, number>();
  private readonly refreshing: Polling;

  constructor(
    private readonly cache: Pick<Cache, "getMany" | "set" | "del">,
    private readonly ttlMs: number,
    private readonly logger: Logger,
  ) {
    this.refreshing = startPolling({
      name: "WatchOffers presence refresh",
      everyMs: Math.max(100, Math.floor(ttlMs / 3)),
      delayFirstRun: true,
      logger,
      task: () => this.refresh(),
    });
  }

  private key(transporterId: string): string {
    return `dispatch:watching:${transporterId}`;
  }

  /** A stream of the transporter opened here. */
  async enter(transporterId: string): Promise<void> {
    this.local.set(transporterId, (this.local.get(transporterId) ?? 0) + 1);
    await this.cache
      .set(this.key(transporterId), "1", { ttlMs: this.ttlMs })
      .catch((error: unknown) => this.logger.warn({ err: error }, "could not record a WatchOffers stream"));
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

  /**
   * Which of the transporters have a live stream on some replica, in their order: streams of
   * this replica known at once, the others in one cache round trip. A cache failure counts as no.
   */
  async online(transporterIds: readonly string[]): Promise<boolean[]> {
    const remote = transporterIds.filter((id) => !this.local.has(id));
    let found: (string | undefined)[] = [];
    try {
      found = await this.cache.getMany(remote.map((id) => this.key(id)));
    } catch {
      found = [];
    }
    const elsewhere = new Set(remote.filter((_, i) => found[i] !== undefined));
    return transporterIds.map((id) => this.local.has(id) || elsewhere.has(id));
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

  /** Stops refreshing (after a refresh in progress). */
  close(): Promise<void> {
    return this.refreshing.stop();
  }
}
