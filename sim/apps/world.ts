import { setTimeout as sleep } from "node:timers/promises";
import { BookingStatus } from "@weelo/contracts/es/weelo/booking/v1/booking_pb";
import type { Gateway } from "../api.js";
import type { CustomerApp } from "./customer.js";
import type { LatLng } from "../geo.js";
import type { Status, Violation } from "../invariants.js";
import type { Ledger } from "../ledger.js";
import type { SimConfig } from "../profiles.js";
export interface World {
  gateway: Gateway;
  ledger: Ledger;
  config: SimConfig;
  tag: string;
  /** Aborted when the run ends: streams close, loops stop. */
  closing: AbortSignal;
  customers: CustomerApp[];
  /** Problems the apps met that the report should name (not counted as failed calls). */
  notes: string[];
  /** Invariants the fault harness checked itself (stream memory, work due after a restart). */
  violations: Violation[];
}

const STATUS_NAMES: Record<number, Status> = {
  [BookingStatus.PENDING]: "PENDING",
  [BookingStatus.CONFIRMED]: "CONFIRMED",
  [BookingStatus.ASSIGNED]: "ASSIGNED",
  [BookingStatus.DRIVER_EN_ROUTE]: "DRIVER_EN_ROUTE",
  [BookingStatus.AT_PICKUP]: "AT_PICKUP",
  [BookingStatus.IN_TRANSIT]: "IN_TRANSIT",
  [BookingStatus.AT_DROPOFF]: "AT_DROPOFF",
  [BookingStatus.COMPLETED]: "COMPLETED",
  [BookingStatus.CANCELLED]: "CANCELLED",
};

/** A protobuf booking status as the invariants name it. */
export function statusName(status: BookingStatus): Status {
  const name = STATUS_NAMES[status];
  if (!name) throw new Error(`booking status ${status} is not a status of the machine`);
  return name;
}

export const address = (location: LatLng, name: string, phone: string) => ({
  line1: "Gate 2, Plot 14",
  city: "Pune",
  state: "Maharashtra",
  pincode: "411026",
  location,
  contactName: name,
  contactPhone: `+91${phone}`,
});

/** Waits ms unless the run is closing (then returns early). */
export async function pause(ms: number, signal: AbortSignal): Promise<void> {
  await sleep(ms, undefined, { signal }).catch(() => undefined);
}
