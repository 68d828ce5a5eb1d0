/** Table types of the pricing schema (kysely). Money columns are bigint paise: pg returns them as strings. */
import type { ColumnType, Generated, Insertable, Selectable } from "kysely";

type CreatedAt = ColumnType<Date, Date | undefined, never>;
type UpdatedAt = ColumnType<Date, Date | undefined, Date>;
/** bigint: read as a string (pg never turns an int8 into a lossy number), written as a number. */
type Paise = ColumnType<string, number | string, number | string>;

/** The vehicle catalog; operators change fares here (the service re-reads it every VEHICLE_CATALOG_TTL_S). */
export interface VehicleTypesTable {
  /** Stable id used by apps and other services, e.g. "mini_truck". */
  id: string;
  display_name: string;
  description: string;
  capacity_kg: number;
  /** open | closed | flatbed */
  body_type: string;
  body_length_mm: number;
  body_width_mm: number;
  body_height_mm: number;
  base_fare_paise: Paise;
  per_km_paise: Paise;
  min_billable_km: number;
  free_loading_minutes: number;
  waiting_charge_per_minute_paise: Paise;
  /** Position in the list, smallest truck first. */
  sort_order: number;
  /** Inactive types are neither listed nor quoted. */
  active: Generated<boolean>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

/** Every quote given, with its signed token: the same quote always shows the same price. */
export interface QuotesTable {
  id: string;
  customer_id: string;
  vehicle_type: string;
  vehicle_count: number;
  pickup_lat: number;
  pickup_lng: number;
  drop_lat: number;
  drop_lng: number;
  scheduled_at: Date | null;
  distance_m: number;
  duration_s: number;
  /** road_routing | great_circle_estimate */
  distance_source: string;
  base_fare_paise: Paise;
  billable_distance_m: number;
  per_km_paise: Paise;
  distance_charge_paise: Paise;
  night: boolean;
  night_charge_bps: number;
  night_charge_paise: Paise;
  /** The surge multiplier in hundredths (125 = 1.25×): exact, unlike a float column. */
  surge_hundredths: number;
  surge_charge_paise: Paise;
  subtotal_paise: Paise;
  gst_rate_bps: number;
  gst_paise: Paise;
  total_per_vehicle_paise: Paise;
  order_total_paise: Paise;
  currency: string;
  free_loading_minutes: number;
  waiting_charge_per_minute_paise: Paise;
  /** The signed quote token handed to the customer. */
  token: string;
  created_at: CreatedAt;
  expires_at: Date;
  /** The key of the one order that used the quote (booking's idempotency key); null until redeemed. */
  redemption_key: ColumnType<string | null, never, string>;
  /** When the quote was first redeemed; null until then. */
  redeemed_at: ColumnType<Date | null, never, Date>;
}

export interface PricingDatabase {
  vehicle_types: VehicleTypesTable;
  quotes: QuotesTable;
}

export type VehicleTypeRow = Selectable<VehicleTypesTable>;
export type QuoteRow = Selectable<QuotesTable>;
export type NewQuote = Insertable<QuotesTable>;
