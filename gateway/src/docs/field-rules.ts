/**
 * The `buf.validate` rules of a contract field as JSON Schema keywords, so the reference states
 * the limits protovalidate enforces (libs/validate): minimum/maximum for numbers, minLength/
 * maxLength/pattern/format for strings, minItems/maxItems for lists, minProperties/maxProperties
 * for maps. Read from the descriptors' options, never restated by hand. A shared (predefined)
 * rule is CEL: its bounds are read when the expression is the plain range `this >= a && this <= b`,
 * and its message and stable reason go into the description either way.
 */
import {
  type DescExtension,
  type DescField,
  type DescMessage,
  getExtension,
  getOption,
  hasExtension,
  hasOption,
  type Registry,
} from "@bufbuild/protobuf";
import { FeatureSet_FieldPresence } from "@bufbuild/protobuf/wkt";
import {
  type FieldRules,
  field as fieldRules,
  Ignore,
  predefined,
  type StringRules,
} from "@weelo/contracts/es/buf/validate/validate_pb";

type JsonSchema = Record<string, unknown>;

/** What the rules of one field say. */
export interface FieldConstraints {
  /** Keywords for the field's own schema. */
  keywords: JsonSchema;
  /** Keywords for each item of a list (or value of a map). */
  items: JsonSchema;
  /** The request is refused without the field: `required`, or a rule its zero value breaks. */
  required: boolean;
  /** Rules JSON Schema cannot state (CEL), in words, each with its stable reason when it has one. */
  notes: string[];
}

/** The constraints of a field, or undefined when its proto states no rule. */
export function fieldConstraints(field: DescField, registry: Registry): FieldConstraints | undefined {
  if (!hasOption(field, fieldRules)) return undefined;
  const rules = getOption(field, fieldRules);
  if (rules.ignore === Ignore.ALWAYS) return undefined;
  const own = keywordsOf(rules, registry);
  const result: FieldConstraints = { keywords: own.keywords, items: {}, required: rules.required, notes: own.notes };
  const type = rules.type;
  if (type.case === "repeated") {
    if (type.value.minItems > 0n) result.keywords.minItems = Number(type.value.minItems);
    if (type.value.maxItems > 0n) result.keywords.maxItems = Number(type.value.maxItems);
    if (type.value.unique) result.keywords.uniqueItems = true;
    if (type.value.items) {
      const items = keywordsOf(type.value.items, registry);
      result.items = items.keywords;
      result.notes.push(...items.notes.map((n) => `each item: ${n}`));
    }
  } else if (type.case === "map") {
    if (type.value.minPairs > 0n) result.keywords.minProperties = Number(type.value.minPairs);
    if (type.value.maxPairs > 0n) result.keywords.maxProperties = Number(type.value.maxPairs);
    if (type.value.values) result.items = keywordsOf(type.value.values, registry).keywords;
  }
  // A field without presence travels as its zero value when unset: a rule that refuses zero makes it required.
  // (protovalidate skips the rules of an unset field with presence, e.g. `optional`.)
  const implicit =
    field.fieldKind !== "list" && field.fieldKind !== "map" && field.presence === FeatureSet_FieldPresence.IMPLICIT;
  if (implicit && rules.ignore !== Ignore.IF_ZERO_VALUE && refusesZero(result.keywords)) result.required = true;
  return result;
}

function keywordsOf(rules: FieldRules, registry: Registry): { keywords: JsonSchema; notes: string[] } {
  const keywords: JsonSchema = {};
  const notes = rules.cel.map((rule) => withReason(rule.message || rule.expression, rule.id));
  const type = rules.type;
  switch (type.case) {
    case "int32":
    case "sint32":
    case "sfixed32":
    case "uint32":
    case "fixed32":
    case "float":
    case "double": {
      const { greaterThan, lessThan } = type.value;
      if (greaterThan.case === "gte") keywords.minimum = greaterThan.value;
      if (greaterThan.case === "gt") keywords.exclusiveMinimum = greaterThan.value;
      if (lessThan.case === "lte") keywords.maximum = lessThan.value;
      if (lessThan.case === "lt") keywords.exclusiveMaximum = lessThan.value;
      if (type.value.in.length > 0) keywords.enum = [...type.value.in];
      Object.assign(keywords, predefinedBounds(type.value, registry, notes));
      break;
    }
    case "string":
      Object.assign(keywords, stringKeywords(type.value));
      Object.assign(keywords, predefinedBounds(type.value, registry, notes));
      break;
    default:
      if (type.value) predefinedBounds(type.value, registry, notes);
  }
  return { keywords, notes };
}

/** JSON Schema formats of protovalidate's well-known string rules (those JSON Schema has). */
const STRING_FORMATS: Partial<Record<NonNullable<StringRules["wellKnown"]["case"]>, string>> = {
  email: "email",
  hostname: "hostname",
  ipv4: "ipv4",
  ipv6: "ipv6",
  uri: "uri",
  uriRef: "uri-reference",
  uuid: "uuid",
};

function stringKeywords(rules: StringRules): JsonSchema {
  const keywords: JsonSchema = {};
  if (rules.len > 0n) keywords.minLength = keywords.maxLength = Number(rules.len);
  if (rules.minLen > 0n) keywords.minLength = Number(rules.minLen);
  if (rules.maxLen > 0n) keywords.maxLength = Number(rules.maxLen);
  if (rules.pattern) keywords.pattern = rules.pattern;
  if (rules.in.length > 0) keywords.enum = [...rules.in];
  const format = rules.wellKnown.case && rules.wellKnown.value ? STRING_FORMATS[rules.wellKnown.case] : undefined;
  if (format) keywords.format = format;
  return keywords;
}

/** A shared limit whose expression starts `size(this) <= rule` caps the length at the rule's value. */
const MAX_SIZE = /^size\(this\) <= rule\b/;

/** A shared rule reads `!rule || (this >= 1 && this <= 20)`: the plain range whose bounds JSON Schema can state. */
const PLAIN_RANGE = /^!rule \|\| \(this >= (-?\d+(?:\.\d+)?) && this <= (-?\d+(?:\.\d+)?)\)$/;

/**
 * The predefined (shared, e.g. weelo.common.v1.vehicle_count) rules set on a type's rules
 * message: each adds its message and reason to `notes`; a plain range also gives its bounds.
 */
function predefinedBounds(
  rules: FieldRules["type"]["value"] & object,
  registry: Registry,
  notes: string[],
): JsonSchema {
  const keywords: JsonSchema = {};
  const schema = (rules as { $typeName: string }).$typeName;
  const extendee = registry.getMessage(schema);
  if (!extendee) return keywords;
  for (const ext of extensionsSetOn(rules, extendee, registry)) {
    if (!hasOption(ext, predefined)) continue;
    const value: unknown = getExtension(rules as never, ext);
    // A shared limit with a number (e.g. text_max_len = 100): `size(this) <= rule` is a maxLength.
    if (typeof value === "number") {
      for (const rule of getOption(ext, predefined).cel) {
        if (!MAX_SIZE.test(rule.expression)) continue;
        keywords.maxLength = value;
        notes.push(withReason(`at most ${value} characters`, rule.id));
      }
      continue;
    }
    if (value !== true) continue;
    for (const rule of getOption(ext, predefined).cel) {
      notes.push(withReason(rule.message || rule.expression, rule.id));
      const range = PLAIN_RANGE.exec(rule.expression);
      if (range) {
        keywords.minimum = Number(range[1]);
        keywords.maximum = Number(range[2]);
      }
    }
  }
  return keywords;
}

/** The extensions of the registry present on a message (they travel among its unknown fields). */
function extensionsSetOn(message: object, extendee: DescMessage, registry: Registry): DescExtension[] {
  const numbers = new Set(((message as { $unknown?: { no: number }[] }).$unknown ?? []).map((u) => u.no));
  return [...numbers]
    .map((no) => registry.getExtensionFor(extendee, no))
    .filter((ext): ext is DescExtension => ext !== undefined && hasExtension(message as never, ext));
}

/** A rule's words with its id when the id is a stable reason (UPPER_SNAKE), as protovalidate answers it. */
function withReason(text: string, id: string): string {
  return /^[A-Z][A-Z0-9_]*$/.test(id) ? `${text} (reason \`${id}\`)` : text;
}

function refusesZero(keywords: JsonSchema): boolean {
  const n = (key: string) => (typeof keywords[key] === "number" ? (keywords[key] as number) : undefined);
  const min = n("minimum");
  const max = n("maximum");
  const exMin = n("exclusiveMinimum");
  const exMax = n("exclusiveMaximum");
  return (
    (min !== undefined && min > 0) ||
    (max !== undefined && max < 0) ||
    (exMin !== undefined && exMin >= 0) ||
    (exMax !== undefined && exMax <= 0) ||
    (n("minLength") ?? 0) > 0 ||
    (Array.isArray(keywords.enum) && !keywords.enum.includes(0) && !keywords.enum.includes(""))
  );
}
