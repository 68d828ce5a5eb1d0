/**
 * Latest positions in Redis, shared by every replica. Per driver a hash
 * `<prefix>tracking:d:<driverId>` (sequence, last-seen, position, availability, trip flag,
 * the cell it is indexed in); per vehicle type and H3 cell a sorted set
 * `<prefix>tracking:c:<vehicleType>:<cell>` of the available drivers in it, scored by
 * last-seen (ms), so a search reads only fresh members of the cells it walks. Every change
 * is one Lua script: the hash and the index never disagree, and an older sequence number
 * never overwrites a newer one.
 *
 * Why not GEOSEARCH over one GEO set per vehicle type: its cost grows with the members inside
 * the radius (about 430 searches/s over 50k members), while the ring walk stops after the
 * nearest `limit` drivers and reads only the cells it needs. The scripts build cell keys
 * from the prefix, so this assumes a single Redis (not Redis Cluster).
 */
import type { Redis } from "ioredis";
import {
  DriverCells,
  ringSearch,
  type Candidate,
  type DriverAvailability,
  type NearbyQuery,
  type NearbyResult,
  type PositionStore,
  type StoredDriver,
} from "./position-store.js";
import type { AcceptedPoint } from "./tracking.rules.js";

const APPLY = `
local mode = ARGV[4]
if mode == 'record' then
  local cur = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
  if tonumber(ARGV[5]) < cur then return 0 end
  redis.call('HSET', KEYS[1], 'seq', ARGV[5])
  local seen = tonumber(redis.call('HGET', KEYS[1], 'seen') or '0')
  if tonumber(ARGV[6]) > seen then redis.call('HSET', KEYS[1], 'seen', ARGV[6]) end
  if ARGV[7] == '1' then
    redis.call('HSET', KEYS[1], 'lat', ARGV[8], 'lng', ARGV[9], 'rec', ARGV[10], 'acc', ARGV[11], 'spd', ARGV[12], 'hdg', ARGV[13], 'cell', ARGV[14], 'pseq', ARGV[15])
  end
elseif mode == 'avail' then
  redis.call('HSET', KEYS[1], 'online', ARGV[5], 'vt', ARGV[6], 'vid', ARGV[7], 'tid', ARGV[8])
elseif mode == 'trip' then
  redis.call('HSET', KEYS[1], 'trip', ARGV[5])
end
local f = redis.call('HMGET', KEYS[1], 'online', 'trip', 'vt', 'cell', 'idx', 'seen')
local key = false
if f[1] == '1' and f[2] ~= '1' and f[3] and f[3] ~= '' and f[4] then key = ARGV[1] .. f[3] .. ':' .. f[4] end
if f[5] and f[5] ~= key then redis.call('ZREM', f[5], ARGV[3]) end
if key then
  redis.call('ZADD', key, tonumber(f[6] or '0'), ARGV[3])
  redis.call('HSET', KEYS[1], 'idx', key)
else
  redis.call('HDEL', KEYS[1], 'idx')
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
`;

type ApplyClient = Redis & { weeloTrackingApply(key: string, ...args: (string | number)[]): Promise<number> };

export class RedisPositionStore implements PositionStore {
  readonly kind = "redis" as const;
  private readonly redis: ApplyClient;

  constructor(
    redis: Redis,
    private readonly options: { keyPrefix: string; resolution: number; ttlS: number; staleAfterMs: number },
  ) {
    if (!("weeloTrackingApply" in redis)) redis.defineCommand("weeloTrackingApply", { numberOfKeys: 1, lua: APPLY });
    this.redis = redis as ApplyClient;
    this.driverCells = new DriverCells(options.resolution);
  }

  /** The cell of each driver's position, known without H3 while the driver stays inside it. */
  private readonly driverCells: DriverCells;

  private driverKey(driverId: string) {
    return `${this.options.keyPrefix}tracking:d:${driverId}`;
  }

  private get cellPrefix() {
    return `${this.options.keyPrefix}tracking:c:`;
  }

  private apply(driverId: string, mode: string, ...args: (string | number)[]) {
    return this.redis.weeloTrackingApply(
      this.driverKey(driverId),
      this.cellPrefix,
      this.options.ttlS,
      driverId,
      mode,
      ...args,
    );
  }

  async get(driverId: string): Promise<StoredDriver | undefined> {
    const h = await this.redis.hgetall(this.driverKey(driverId));
    if (!h.seq && !h.online && !h.trip) return undefined;
    const position: AcceptedPoint | undefined =
      h.lat !== undefined
        ? {
            seq: Number(h.pseq),
            recordedAt: Number(h.rec),
            lat: Number(h.lat),
            lng: Number(h.lng),
            accuracyM: Number(h.acc),
            speedMps: Number(h.spd),
            heading: Number(h.hdg),
          }
        : undefined;
    return {
      driverId,
      lastSeq: Number(h.seq ?? 0),
      lastSeenAt: Number(h.seen ?? 0),
      position,
      availability:
        h.online !== undefined
          ? { online: h.online === "1", vehicleType: h.vt ?? "", vehicleId: h.vid ?? "", transporterId: h.tid ?? "" }
          : undefined,
      onTrip: h.trip === "1",
    };
  }

  async record(
    driverId: string,
    update: { lastSeq: number; lastSeenAt: number; position: AcceptedPoint | undefined },
  ): Promise<void> {
    const p = update.position;
    if (!p) {
      await this.apply(driverId, "record", update.lastSeq, update.lastSeenAt, "0");
      return;
    }
    const cell = this.driverCells.cellOf(driverId, p.lat, p.lng);
    await this.apply(
      driverId,
      "record",
      update.lastSeq,
      update.lastSeenAt,
      "1",
      p.lat,
      p.lng,
      p.recordedAt,
      p.accuracyM,
      p.speedMps,
      p.heading,
      cell,
      p.seq,
    );
  }

  async setAvailability(driverId: string, a: DriverAvailability): Promise<void> {
    await this.apply(driverId, "avail", a.online ? "1" : "0", a.vehicleType, a.vehicleId, a.transporterId);
  }

  async setOnTrip(driverId: string, onTrip: boolean): Promise<void> {
    await this.apply(driverId, "trip", onTrip ? "1" : "0");
  }

  async nearby(query: NearbyQuery): Promise<NearbyResult[]> {
    return ringSearch(query, this.options.resolution, async (cells) => {
      const reads = this.redis.pipeline();
      for (const cell of cells) {
        const key = `${this.cellPrefix}${query.vehicleType}:${cell}`;
        // Members silent for ten staleness windows are pruned as the search passes by.
        reads.zremrangebyscore(key, "-inf", `(${query.seenSince - 9 * this.options.staleAfterMs}`);
        reads.zrangebyscore(key, query.seenSince, "+inf");
      }
      const ids = ((await reads.exec()) ?? [])
        .filter((_, i) => i % 2 === 1)
        .flatMap(([, members]) => (members as string[] | null) ?? []);
      if (ids.length === 0) return [];
      const details = this.redis.pipeline();
      for (const id of ids)
        details.hmget(this.driverKey(id), "lat", "lng", "seen", "tid", "vid", "vt", "online", "trip");
      const rows = (await details.exec()) ?? [];
      const out: Candidate[] = [];
      rows.forEach(([, value], i) => {
        const [lat, lng, seen, tid, vid, vt, online, trip] = (value as (string | null)[] | null) ?? [];
        if (online !== "1" || trip === "1" || vt !== query.vehicleType || lat == null || lng == null) return;
        if (Number(seen) < query.seenSince) return;
        out.push({
          driverId: ids[i]!,
          lat: Number(lat),
          lng: Number(lng),
          lastSeenAt: Number(seen),
          transporterId: tid ?? "",
          vehicleId: vid ?? "",
          vehicleType: vt,
        });
      });
      return out;
    });
  }

  /** One ZCOUNT per cell in a pipeline: the index holds exactly the available drivers (the script keeps it so). */
  async countAvailable(cells: readonly string[], vehicleType: string, seenSince: number): Promise<number> {
    if (cells.length === 0) return 0;
    const counts = this.redis.pipeline();
    for (const cell of cells) counts.zcount(`${this.cellPrefix}${vehicleType}:${cell}`, seenSince, "+inf");
    let total = 0;
    for (const [error, value] of (await counts.exec()) ?? []) {
      if (error) throw error;
      total += Number(value);
    }
    return total;
  }

  /** SCAN over the driver hashes, each page read in one pipeline. */
  async scan(visit: (drivers: StoredDriver[]) => void): Promise<void> {
    const prefix = this.driverKey("");
    let cursor = "0";
    do {
      const [next, keys] = await this.redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      if (keys.length === 0) continue;
      const reads = this.redis.pipeline();
      for (const key of keys) reads.hgetall(key);
      const rows = (await reads.exec()) ?? [];
      const drivers: StoredDriver[] = [];
      rows.forEach(([error, h], i) => {
        const driver = error ? undefined : storedDriverOf(keys[i]!.slice(prefix.length), h as Record<string, string>);
        if (driver) drivers.push(driver);
      });
      visit(drivers);
    } while (cursor !== "0");
  }

  async close(): Promise<void> {
    // The connection belongs to the platform's cache.
  }
}

/** A driver hash as the fleet scan reads it (the same fields get() reads). */
function storedDriverOf(driverId: string, h: Record<string, string>): StoredDriver | undefined {
  if (!h.seq && !h.online && !h.trip) return undefined;
  return {
    driverId,
    lastSeq: Number(h.seq ?? 0),
    lastSeenAt: Number(h.seen ?? 0),
    position:
      h.lat !== undefined
        ? {
            seq: Number(h.pseq),
            recordedAt: Number(h.rec),
            lat: Number(h.lat),
            lng: Number(h.lng),
            accuracyM: Number(h.acc),
            speedMps: Number(h.spd),
            heading: Number(h.hdg),
          }
        : undefined,
    availability:
      h.online !== undefined
        ? { online: h.online === "1", vehicleType: h.vt ?? "", vehicleId: h.vid ?? "", transporterId: h.tid ?? "" }
        : undefined,
    onTrip: h.trip === "1",
  };
}
