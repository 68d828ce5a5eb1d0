/** Table types of the fleet schema (kysely). Status columns hold the lower-case domain words. */
import type { OutboxTable } from "@weelo/outbox";
import type { ColumnType, Generated, Selectable } from "kysely";

type CreatedAt = ColumnType<Date, Date | undefined, never>;
type UpdatedAt = ColumnType<Date, Date | undefined, Date>;
/** int8 comes back as a string from pg and PGlite alike (no precision is lost). */
type BigIntColumn = ColumnType<string, number | string | undefined, number | string>;

export const VEHICLE_STATUSES = ["available", "on_trip", "maintenance", "inactive"] as const;
export type VehicleStatus = (typeof VEHICLE_STATUSES)[number];

export const DRIVER_STATUSES = ["offline", "online", "on_trip"] as const;
export type DriverStatus = (typeof DRIVER_STATUSES)[number];

export interface VehiclesTable {
  id: string;
  transporter_id: string;
  /** Normalized, e.g. MH12AB1234; unique among vehicles that are not deleted. */
  registration_number: string;
  /** Vehicle type id of the pricing catalog. */
  vehicle_type: string;
  capacity_kg: number;
  make_model: Generated<string>;
  status: ColumnType<VehicleStatus, VehicleStatus | undefined, VehicleStatus>;
  idempotency_key: string | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
  /** Soft delete: the row stays for trip history, the registration number is free again. */
  deleted_at: Date | null;
}

export interface DriversTable {
  id: string;
  transporter_id: string;
  name: string;
  /** E.164; unique among drivers that are not removed. */
  phone: string;
  licence_number: string;
  status: ColumnType<DriverStatus, DriverStatus | undefined, DriverStatus>;
  /** The vehicle the driver is online with (or on a trip with); unique while set. */
  vehicle_id: string | null;
  /** Sequence of the driver's last availability event. */
  event_seq: BigIntColumn;
  idempotency_key: string | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
  removed_at: Date | null;
}

/** Which identity account logs in with a driver phone (learned from identity at login). */
export interface DriverAccountsTable {
  phone: string;
  user_id: string;
  linked_at: UpdatedAt;
}

export interface TransportersTable {
  /** The transporter's user id. */
  id: string;
  base_lat: number | null;
  base_lng: number | null;
  service_radius_km: number;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

/** Which booking holds which driver and vehicle ON_TRIP (from booking's events; see trip-holds.ts). */
export interface TripHoldsTable {
  booking_id: string;
  /** Sequence of the booking's last event applied: older or repeated events change nothing. */
  booking_seq: BigIntColumn;
  /** True while the booking's trip holds its driver and vehicle. */
  active: boolean;
  driver_id: string | null;
  vehicle_id: string | null;
  /** Whether the driver was online before the trip: the trip's end puts them back so (online with its vehicle). */
  driver_was_online: ColumnType<boolean, boolean | undefined, boolean>;
  updated_at: UpdatedAt;
}

export interface FleetDatabase {
  vehicles: VehiclesTable;
  drivers: DriversTable;
  driver_accounts: DriverAccountsTable;
  transporters: TransportersTable;
  trip_holds: TripHoldsTable;
  /** Events written with the change that caused them, published by the relay (@weelo/outbox). */
  outbox: OutboxTable;
}

export type VehicleRow = Selectable<VehiclesTable>;
/** A vehicle with the online driver driving it, as the API shows it. */
export type VehicleView = VehicleRow & { current_driver_id: string | null };
export type DriverRow = Selectable<DriversTable>;
export type TransporterRow = Selectable<TransportersTable>;
export type OutboxRow = Selectable<OutboxTable>;
