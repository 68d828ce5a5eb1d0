/**
 * Rebuilding the position store after it lost its data. Redis keeps nothing on disk here: a
 * restart (or a flush, or a failover to an empty replica) empties it, and with it every driver's
 * availability (online, vehicle, transporter) and trip flag. A driver's next point writes the
 * position again, but availability comes only from fleet's events, which are not sent again:
 * until each driver changed availability, dispatch would find nobody.
 *
 * So a marker key is written when tracking starts and checked every few seconds with SET NX:
 * whichever replica finds it gone (and re-creates it) asks fleet for every driver online or on
 * a trip (ListOnlineDrivers, paged) and applies them through the availability sink, then puts
 * back the trip flags of the trips it knows. The check runs at start too: a store emptied while
 * tracking was down is rebuilt the same way (on a first start ever it simply fills the store).
 */
import type {
  ListOnlineDriversRequest,
  ListOnlineDriversResponse,
} from "@weelo/contracts/grpc/weelo/fleet/v1/fleet_directory_service";
import type { Logger } from "@weelo/log";
import type { AvailabilitySink } from "./availability.js";

/** Where the drivers online or on a trip come from: fleet (its mesh client, or in process). */
export interface OnlineDriverSource {
  listOnlineDrivers(request: ListOnlineDriversRequest): Promise<ListOnlineDriversResponse>;
}

export interface StoreResyncDeps {
  /** SET key value NX: true when the key was missing (and is now set). */
  claimMarker(): Promise<boolean>;
  fleet: OnlineDriverSource;
  availability: AvailabilitySink & { forget(): void };
  /** The drivers of the trips this process knows to be active. */
  driversOnTrips(): Iterable<string>;
  setOnTrip(driverId: string, onTrip: boolean): Promise<void>;
  logger: Logger;
  checkEveryMs: number;
  /** Wait before trying a failed rebuild again (doubling up to 30 s). */
  retryMs?: number;
}

export class StoreResync {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private running: Promise<void> | undefined;
  /** Ends the wait before a retry at once (stop() must not wait out a 30 s backoff). */
  private wake: (() => void) | undefined;
  /** Rebuilds done (for tests and logs). */
  rebuilds = 0;

  constructor(private readonly deps: StoreResyncDeps) {}

  /** Checks now, then every `checkEveryMs`. */
  start(): void {
    const tick = () => {
      if (this.stopped) return;
      this.running ??= this.check().finally(() => {
        this.running = undefined;
        if (!this.stopped) this.timer = setTimeout(tick, this.deps.checkEveryMs).unref();
      });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.wake?.();
    await this.running;
  }

  private async check(): Promise<void> {
    let lost: boolean;
    try {
      lost = await this.deps.claimMarker();
    } catch {
      return; // the store is unreachable: the next check tells whether it came back empty
    }
    if (!lost) return;
    this.deps.logger.warn("the position store has no marker: it lost its data; rebuilding availability from fleet");
    let waitMs = this.deps.retryMs ?? 1000;
    while (!this.stopped) {
      try {
        const drivers = await this.rebuild();
        this.rebuilds += 1;
        this.deps.logger.info(
          { drivers },
          "position store rebuilt: availability of every online driver and trip flags",
        );
        return;
      } catch (error) {
        this.deps.logger.warn({ err: error, retryInMs: waitMs }, "could not rebuild the position store; trying again");
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          setTimeout(resolve, waitMs).unref();
        });
        this.wake = undefined;
        waitMs = Math.min(waitMs * 2, 30_000);
      }
    }
  }

  private async rebuild(): Promise<number> {
    const { fleet, availability } = this.deps;
    // Sequences seen before the loss would hide fleet's answer (the same sequence): forgotten,
    // an event newer than the answer still wins over it.
    availability.forget();
    let count = 0;
    let pageToken = "";
    do {
      const page = await fleet.listOnlineDrivers({ pageSize: 500, pageToken });
      // A page's drivers are distinct, so their writes go together (one pipelined round trip,
      // not 500 in a row: 50k drivers would otherwise take their round trips one by one).
      await Promise.all(
        page.drivers.map((driver) =>
          availability.apply(
            driver.driverId,
            {
              online: true,
              vehicleType: driver.vehicleType,
              vehicleId: driver.vehicleId,
              transporterId: driver.transporterId,
            },
            driver.sequence,
          ),
        ),
      );
      count += page.drivers.length;
      pageToken = page.nextPageToken;
    } while (pageToken !== "" && !this.stopped);
    await Promise.all([...this.deps.driversOnTrips()].map((driverId) => this.deps.setOnTrip(driverId, true)));
    return count;
  }
}
