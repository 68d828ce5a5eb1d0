/**
 * JSON Schemas (OpenAPI 3.1 dialect) of protobuf messages as they travel in protobuf JSON:
 * lowerCamelCase names, 64-bit integers as decimal strings, enums by value name, the
 * well-known types in their JSON forms. Descriptions are the proto comments; the fields'
 * buf.validate rules become JSON Schema limits (field-rules.ts).
 */
import { ScalarType, type DescEnum, type DescField, type DescMessage, type Registry } from "@bufbuild/protobuf";
import { getComments } from "@bufbuild/protoplugin";
import { type FieldConstraints, fieldConstraints } from "./field-rules.js";

export type JsonSchema = Record<string, unknown>;

/** The proto comment above a declaration, trimmed (undefined when there is none). */
export function commentOf(desc: Parameters<typeof getComments>[0]): string | undefined {
  const text = getComments(desc).leading?.trim();
  return text ? text.replace(/\n /g, "\n") : undefined;
}

/** A $ref to the component schema of a message or enum. */
export const refTo = (typeName: string): JsonSchema => ({ $ref: `#/components/schemas/${typeName}` });

/** Well-known types with a JSON form of their own: inlined, never a component. */
const WELL_KNOWN: Record<string, JsonSchema> = {
  "google.protobuf.Timestamp": { type: "string", format: "date-time", examples: ["2026-01-15T09:30:00Z"] },
  "google.protobuf.Duration": { type: "string", pattern: "^-?[0-9]+(\\.[0-9]+)?s$", examples: ["1.5s"] },
  "google.protobuf.Empty": { type: "object", additionalProperties: false },
  "google.protobuf.FieldMask": { type: "string", description: "Comma-separated lowerCamelCase field paths." },
  "google.protobuf.Struct": { type: "object" },
  "google.protobuf.Value": {},
  "google.protobuf.ListValue": { type: "array" },
  "google.protobuf.Any": {
    type: "object",
    properties: { "@type": { type: "string" } },
    required: ["@type"],
  },
  "google.protobuf.StringValue": { type: ["string", "null"] },
  "google.protobuf.BoolValue": { type: ["boolean", "null"] },
  "google.protobuf.Int32Value": { type: ["integer", "null"], format: "int32" },
  "google.protobuf.UInt32Value": { type: ["integer", "null"], format: "int32", minimum: 0 },
  "google.protobuf.Int64Value": { type: ["string", "null"], format: "int64" },
  "google.protobuf.UInt64Value": { type: ["string", "null"], format: "int64" },
  "google.protobuf.DoubleValue": { type: ["number", "null"], format: "double" },
  "google.protobuf.FloatValue": { type: ["number", "null"], format: "float" },
  "google.protobuf.BytesValue": { type: ["string", "null"], contentEncoding: "base64" },
};

const INT64_PATTERN = "^-?[0-9]+$";

export function scalarSchema(scalar: ScalarType): JsonSchema {
  switch (scalar) {
    case ScalarType.STRING:
      return { type: "string" };
    case ScalarType.BYTES:
      return { type: "string", contentEncoding: "base64" };
    case ScalarType.BOOL:
      return { type: "boolean" };
    case ScalarType.DOUBLE:
      return { type: "number", format: "double" };
    case ScalarType.FLOAT:
      return { type: "number", format: "float" };
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return { type: "integer", format: "int32" };
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return { type: "integer", format: "int32", minimum: 0, maximum: 4294967295 };
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      // Protobuf JSON writes 64-bit integers as strings (JavaScript numbers lose precision past 2^53).
      return { type: "string", format: "uint64", pattern: "^[0-9]+$" };
    default:
      return { type: "string", format: "int64", pattern: INT64_PATTERN };
  }
}

/** Collects the component schemas of messages and enums reached from the roots. */
export class SchemaCollector {
  readonly components: Record<string, JsonSchema> = {};

  /** `registry` resolves the shared (predefined) validation rules the fields name. */
  constructor(private readonly registry: Registry) {}

  /** The schema of a message, by reference (a component) unless it is a well-known type. */
  message(desc: DescMessage): JsonSchema {
    const known = WELL_KNOWN[desc.typeName];
    if (known) return { ...known };
    if (!(desc.typeName in this.components)) {
      this.components[desc.typeName] = {}; // placeholder first: messages may refer to themselves
      this.components[desc.typeName] = this.messageBody(desc);
    }
    return refTo(desc.typeName);
  }

  enum(desc: DescEnum): JsonSchema {
    if (!(desc.typeName in this.components)) {
      const values = desc.values.map((v) => `- \`${v.name}\`${commentOf(v) ? `: ${commentOf(v)}` : ""}`);
      const prefix = desc.values[0]?.name.replace(/UNSPECIFIED$/, "") ?? "";
      const words = prefix ? `\n\nThe REST aliases also accept the value without \`${prefix}\`, in lower case.` : "";
      this.components[desc.typeName] = {
        type: "string",
        enum: desc.values.map((v) => v.name),
        description: `${commentOf(desc) ?? desc.name}\n\n${values.join("\n")}${words}`,
      };
    }
    return refTo(desc.typeName);
  }

  private messageBody(desc: DescMessage): JsonSchema {
    const properties: Record<string, JsonSchema> = {};
    const required: string[] = [];
    for (const field of desc.fields) {
      const constraints = fieldConstraints(field, this.registry);
      properties[field.jsonName] = this.field(field, constraints);
      if (constraints?.required) required.push(field.jsonName);
    }
    const schema: JsonSchema = { type: "object", properties, additionalProperties: false };
    if (required.length > 0) schema.required = required;
    const oneofs = desc.oneofs
      .filter((o) => !o.fields.some((f) => f.proto.proto3Optional))
      .map((o) => `\`${o.name}\`: at most one of ${o.fields.map((f) => `\`${f.jsonName}\``).join(", ")}`);
    const comment = commentOf(desc);
    const description = [comment, ...oneofs].filter(Boolean).join("\n\n");
    if (description) schema.description = description;
    if (oneofs.length > 0) {
      // Protobuf JSON carries at most one member of each oneof.
      schema.allOf = desc.oneofs
        .filter((o) => !o.fields.some((f) => f.proto.proto3Optional))
        .map((o) => pairsOf(o.fields.map((f) => f.jsonName)))
        .filter((pairs) => pairs.length > 0)
        .map((pairs) => ({ not: { anyOf: pairs } }));
      if ((schema.allOf as unknown[]).length === 0) delete schema.allOf;
    }
    return schema;
  }

  private field(field: DescField, constraints: FieldConstraints | undefined): JsonSchema {
    const described = (schema: JsonSchema): JsonSchema => {
      const words = [commentOf(field), ...(constraints?.notes ?? []).map((note) => `Rule: ${note}.`)];
      const description = words.filter(Boolean).join("\n\n");
      // Siblings of $ref are allowed in 3.1, and keep the field's own words and limits.
      const limited = { ...schema, ...constraints?.keywords };
      return description ? { ...limited, description } : limited;
    };
    const item = (schema: JsonSchema): JsonSchema => ({ ...schema, ...constraints?.items });
    switch (field.fieldKind) {
      case "scalar":
        return described(scalarSchema(field.scalar));
      case "enum":
        return described(this.enum(field.enum));
      case "message":
        return described(this.message(field.message));
      case "list":
        return described({
          type: "array",
          items: item(
            field.listKind === "scalar"
              ? scalarSchema(field.scalar)
              : field.listKind === "enum"
                ? this.enum(field.enum)
                : this.message(field.message),
          ),
        });
      case "map":
        return described({
          type: "object",
          additionalProperties: item(
            field.mapKind === "scalar"
              ? scalarSchema(field.scalar)
              : field.mapKind === "enum"
                ? this.enum(field.enum)
                : this.message(field.message),
          ),
        });
    }
  }
}

/** Every pair of names: a oneof is violated when two of its members are present together. */
function pairsOf(names: string[]): JsonSchema[] {
  const pairs: JsonSchema[] = [];
  for (let i = 0; i < names.length; i++)
    for (let j = i + 1; j < names.length; j++) pairs.push({ required: [names[i], names[j]] });
  return pairs;
}
