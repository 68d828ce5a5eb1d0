// Frozen in time: never edit a migration that has shipped; add a new one.
// broadcasts.vehicle_count only had to be at least 1; an order has 1 to 20 trucks (the contract's
// weelo.common.v1.vehicle_count, which booking's orders table already checks), and now this CHECK
// says so too. The database keeps its own guard although requests are validated before any
// handler runs: it is the last line for every writer (here the booking.created consumer, which
// copies the order from an event), and a row past the limit would break every offer made from it.
// Orders have only ever had 1 to 20 trucks, so no stored row breaks the narrower CHECK.
import { sql, type Kysely } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("broadcasts").dropConstraint("broadcasts_vehicle_count_check").execute();
  await db.schema
    .alterTable("broadcasts")
    .addCheckConstraint("broadcasts_vehicle_count_check", sql`vehicle_count between 1 and 20`)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("broadcasts").dropConstraint("broadcasts_vehicle_count_check").execute();
  await db.schema
    .alterTable("broadcasts")
    .addCheckConstraint("broadcasts_vehicle_count_check", sql`vehicle_count >= 1`)
    .execute();
}
