/**
 * What the document says about refusals is what the code does: the field limits it states are
 * the ones protovalidate enforces (checked at each bound, and one past it), and the reasons it
 * lists are the catalog's, each under the HTTP status it is answered with.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, type DescMessage } from "@bufbuild/protobuf";
import { codeName, httpStatusOf, REASONS, type ReasonEntry } from "@weelo/errors";
import { requestCheck } from "@weelo/validate";
import { buildOpenApiDocument, contractRegistry } from "./openapi.js";

type Schema = {
  properties?: Record<string, Record<string, unknown>>;
  required?: string[];
  enum?: string[];
  description?: string;
};

const doc = buildOpenApiDocument() as {
  components: { schemas: Record<string, Schema>; responses: Record<string, { description: string }> };
};
const registry = contractRegistry();

/** The field paths protovalidate refuses in a message of `desc` whose field `jsonName` holds `value`. */
function refusedFields(desc: DescMessage, jsonName: string, value: number): string[] {
  const field = desc.fields.find((f) => f.jsonName === jsonName)!;
  const message = create(desc, { [field.localName]: value } as never);
  return requestCheck(desc)?.(message)?.violations.map((v) => v.field) ?? [];
}

describe("the OpenAPI document's refusals", () => {
  it("states the field limits protovalidate enforces: a bound passes, one past it is refused", () => {
    let bounds = 0;
    for (const [typeName, schema] of Object.entries(doc.components.schemas)) {
      const desc = registry.getMessage(typeName);
      if (!desc) continue;
      for (const [jsonName, property] of Object.entries(schema.properties ?? {})) {
        const name = desc.fields.find((f) => f.jsonName === jsonName)!.name;
        const { minimum, maximum } = property as { minimum?: number; maximum?: number };
        // uint32 fields state their type's range (0 to 2^32-1), not a rule.
        const ruled = (bound: number | undefined) => bound !== undefined && bound !== 0 && bound !== 4294967295;
        if (ruled(minimum)) {
          assert.ok(!refusedFields(desc, jsonName, minimum!).includes(name), `${typeName}.${jsonName} = ${minimum}`);
          assert.ok(
            refusedFields(desc, jsonName, minimum! - 1).includes(name),
            `${typeName}.${jsonName} = ${minimum! - 1}`,
          );
          bounds++;
        }
        if (ruled(maximum)) {
          assert.ok(!refusedFields(desc, jsonName, maximum!).includes(name), `${typeName}.${jsonName} = ${maximum}`);
          assert.ok(
            refusedFields(desc, jsonName, maximum! + 1).includes(name),
            `${typeName}.${jsonName} = ${maximum! + 1}`,
          );
          bounds++;
        }
      }
    }
    assert.ok(
      bounds >= 10,
      `the rules of vehicle_count, weight_kg, capacity_kg and service_radius_km are stated (${bounds})`,
    );
  });

  it("requires a field its rule refuses unset, and not an optional one", () => {
    let required = 0;
    for (const [typeName, schema] of Object.entries(doc.components.schemas)) {
      const desc = registry.getMessage(typeName);
      if (!desc || !schema.required) continue;
      const refused = requestCheck(desc)?.(create(desc))?.violations.map((v) => v.field) ?? [];
      for (const jsonName of schema.required) {
        assert.ok(refused.includes(desc.fields.find((f) => f.jsonName === jsonName)!.name), `${typeName}.${jsonName}`);
        required++;
      }
    }
    assert.ok(required >= 4, `vehicle_count (3 requests) and weight_kg are required (${required})`);
    const quote = doc.components.schemas["weelo.pricing.v1.GetQuoteRequest"]!;
    assert.ok(quote.required?.includes("vehicleCount"));
    assert.match(String(quote.properties?.vehicleCount?.description), /VEHICLE_COUNT_OUT_OF_RANGE/);
    const update = doc.components.schemas["weelo.fleet.v1.UpdateVehicleRequest"]!;
    assert.equal(update.properties?.capacityKg?.minimum, 100);
    assert.ok(!update.required?.includes("capacityKg"), "an optional field may be left out");
  });

  it("lists the catalog's reasons, each under the HTTP status it is answered with", () => {
    const http = (Object.entries(REASONS) as [string, ReasonEntry][]).filter(
      ([, e]) => e.surface !== "socket" && e.surface !== "mesh",
    );
    assert.deepEqual(
      doc.components.schemas["weelo.ErrorReason"]?.enum,
      http.map(([reason]) => reason),
    );
    const responses = doc.components.responses;
    for (const [reason, entry] of http) {
      const status = entry.httpStatus ?? httpStatusOf(entry.code);
      const refusal = responses[`RestError${status}`];
      if (!refusal) {
        // An answer to a route no operation has (405: a documented path with another method): in the table only.
        assert.equal(entry.surface, "rest", `a REST response for ${status}`);
        assert.match(String(doc.components.schemas["weelo.ErrorReason"]?.description), new RegExp(`\`${reason}\``));
        continue;
      }
      // A code's default reason is named as the code; every other one in the list of reasons.
      const listed = reason === codeName(entry.code) ? `\`${reason}\`` : `\`${reason}\`,`;
      assert.ok(`${refusal.description},`.replace(/\.,$/, ",").includes(listed), `${reason} under ${status}`);
    }
  });
});
