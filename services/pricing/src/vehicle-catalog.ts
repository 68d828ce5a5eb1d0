/**
 * The vehicle catalog, read from the pricing schema and kept in process for a short TTL:
 * every quote needs it, it is a handful of rows, and operators changing a fare in the table
 * accept that replicas see it within VEHICLE_CATALOG_TTL_S. Concurrent reads after expiry
 * share one query; if the database fails while an older copy is held, the older copy serves.
 */
import type { Logger } from "@weelo/log";
import type { VehicleTypeRow } from "./pricing.table.js";

export type BodyType = "open" | "closed" | "flatbed";

export interface VehicleTariff {
  baseFarePaise: number;
  perKmPaise: number;
  minBillableKm: number;
  freeLoadingMinutes: number;
  waitingChargePerMinutePaise: number;
}

export interface VehicleType {
  id: string;
  displayName: string;
  description: string;
  capacityKg: number;
  bodyType: BodyType;
  body: { lengthMm: number; widthMm: number; heightMm: number };
  fare: VehicleTariff;
}

export class VehicleCatalog {
  private types: readonly VehicleType[] | undefined;
  private byId = new Map<string, VehicleType>();
  private loadedAt = 0;
  private loading: Promise<readonly VehicleType[]> | undefined;

  constructor(
    private readonly load: () => Promise<VehicleTypeRow[]>,
    private readonly settings: { ttlMs: number; logger: Logger; now?: () => number },
  ) {}

  /** Every active vehicle type, smallest first. */
  async list(): Promise<readonly VehicleType[]> {
    const now = this.settings.now?.() ?? Date.now();
    if (this.types && now - this.loadedAt < this.settings.ttlMs) return this.types;
    this.loading ??= this.refresh(now).finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  async find(id: string): Promise<VehicleType | undefined> {
    await this.list();
    return this.byId.get(id);
  }

  /** Drops the copy in this process, so the next read goes to the database. */
  invalidate(): void {
    this.loadedAt = 0;
  }

  private async refresh(now: number): Promise<readonly VehicleType[]> {
    try {
      const types = Object.freeze((await this.load()).map(rowToVehicleType));
      this.types = types;
      this.byId = new Map(types.map((type) => [type.id, type]));
      this.loadedAt = now;
      return types;
    } catch (error) {
      if (!this.types) throw error;
      this.settings.logger.warn({ err: error }, "vehicle catalog could not be re-read; serving the copy in memory");
      return this.types;
    }
  }
}

export function rowToVehicleType(row: VehicleTypeRow): VehicleType {
  return {
    id: row.id,
    displayName: row.display_name,
    description: row.description,
    capacityKg: row.capacity_kg,
    bodyType: row.body_type as BodyType,
    body: { lengthMm: row.body_length_mm, widthMm: row.body_width_mm, heightMm: row.body_height_mm },
    fare: {
      baseFarePaise: paise(row.base_fare_paise),
      perKmPaise: paise(row.per_km_paise),
      minBillableKm: row.min_billable_km,
      freeLoadingMinutes: row.free_loading_minutes,
      waitingChargePerMinutePaise: paise(row.waiting_charge_per_minute_paise),
    },
  };
}

/** A bigint column (a string from pg) as a number of paise; amounts beyond 2^53 are refused. */
export function paise(value: string | number): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number)) throw new RangeError(`not a whole amount of paise: ${value}`);
  return number;
}
