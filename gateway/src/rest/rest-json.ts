/**
 * JSON for the REST aliases: the documented bodies use plain words for enums ("customer"),
 * which protobuf JSON spells ROLE_CUSTOMER. Both are accepted; the rest is protobuf JSON.
 */
import type { DescMessage, JsonObject, JsonValue } from "@bufbuild/protobuf";

/** Rewrites enum words to enum value names, recursively through nested messages. */
export function acceptEnumWords(schema: DescMessage, json: JsonObject): JsonObject {
  const out: JsonObject = { ...json };
  for (const field of schema.fields) {
    const key = field.jsonName in out ? field.jsonName : field.name in out ? field.name : undefined;
    if (key === undefined) continue;
    const value = out[key];
    if (field.fieldKind === "enum" && typeof value === "string") {
      out[key] = enumName(
        field.enum.values.map((v) => v.name),
        value,
      );
    } else if (field.fieldKind === "message" && isObject(value)) {
      out[key] = acceptEnumWords(field.message, value);
    }
  }
  return out;
}

function enumName(names: string[], value: string): JsonValue {
  if (names.includes(value)) return value;
  const prefix = names[0]?.replace(/UNSPECIFIED$/, "") ?? "";
  const candidate = `${prefix}${value.toUpperCase().replace(/[\s-]/g, "_")}`;
  return names.includes(candidate) ? candidate : value;
}

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
