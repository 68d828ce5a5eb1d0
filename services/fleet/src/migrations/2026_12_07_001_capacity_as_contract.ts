// Frozen in time: never edit a migration that has shipped; add a new one.
// vehicles.capacity_kg only had to be positive; the contract (weelo.common.v1.capacity_kg, on
// AddVehicleRequest and UpdateVehicleRequest) allows 100 to 60000 kg, and now the database says
// the same (transporters.service_radius_km already agreed with its contract, 1 to 500). The
// database keeps its own guard although requests are validated before any handler runs: it is
// the last line for every writer (a handler bug, a script, a later migration). Vehicles have
// only ever been added or changed with 100 to 60000 kg (the service refused the rest), so no
// stored row breaks the narrower CHECK.
import { sql, type Kysely } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("vehicles").dropConstraint("vehicles_capacity_kg_check").execute();
  await db.schema
    .alterTable("vehicles")
    .addCheckConstraint("vehicles_capacity_kg_check", sql`capacity_kg between 100 and 60000`)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("vehicles").dropConstraint("vehicles_capacity_kg_check").execute();
  await db.schema
    .alterTable("vehicles")
    .addCheckConstraint("vehicles_capacity_kg_check", sql`capacity_kg > 0`)
    .execute();
}
