/** A transporter's profile: GetTransporterProfile, UpdateTransporterProfile (base and service radius). */
import type { Principal } from "@weelo/auth";
import { transporterOf, type FleetContext } from "./fleet.context.js";
import * as repo from "./fleet.repository.js";
import { DEFAULT_SERVICE_RADIUS_KM, validateBaseLocation } from "./fleet.rules.js";

export interface TransporterProfile {
  transporterId: string;
  base: { lat: number; lng: number } | undefined;
  serviceRadiusKm: number;
  updatedAt: Date | undefined;
}

export function createTransporterProfiles(ctx: Pick<FleetContext, "db">) {
  const { db } = ctx;

  async function getTransporterProfile(principal: Principal): Promise<TransporterProfile> {
    const transporterId = transporterOf(principal);
    const row = await repo.findTransporter(db, transporterId);
    if (!row)
      return { transporterId, base: undefined, serviceRadiusKm: DEFAULT_SERVICE_RADIUS_KM, updatedAt: undefined };
    return toProfile(row);
  }

  async function updateTransporterProfile(
    principal: Principal,
    changes: { base?: { lat: number; lng: number } | undefined; serviceRadiusKm?: number | undefined },
  ): Promise<TransporterProfile> {
    const transporterId = transporterOf(principal);
    const base = changes.base ? validateBaseLocation(changes.base) : undefined;
    const serviceRadiusKm = changes.serviceRadiusKm; // 1 to 500: the contract's rule, checked before the handler
    const row = await repo.upsertTransporter(db, {
      id: transporterId,
      base,
      serviceRadiusKm,
      defaultRadiusKm: DEFAULT_SERVICE_RADIUS_KM,
    });
    return toProfile(row);
  }

  return { getTransporterProfile, updateTransporterProfile };
}

function toProfile(row: {
  id: string;
  base_lat: number | null;
  base_lng: number | null;
  service_radius_km: number;
  updated_at: Date;
}): TransporterProfile {
  return {
    transporterId: row.id,
    base: row.base_lat !== null && row.base_lng !== null ? { lat: row.base_lat, lng: row.base_lng } : undefined,
    serviceRadiusKm: row.service_radius_km,
    updatedAt: row.updated_at,
  };
}
