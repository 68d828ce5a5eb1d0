/**
 * Request validation from the contracts: every field limit is a `buf.validate` rule in a proto,
 * enforced by protovalidate here, for the grpc-js services (libs/grpc) and the Connect gateway
 * alike. Checks are compiled once per request type when a server starts, never per call; a type
 * whose proto states no rule gets no check at all (its calls pay nothing).
 *
 * A violation is an InvalidArgumentError listing every wrong field (google.rpc.BadRequest: the
 * field path, protovalidate's message, the rule id). Its ErrorInfo reason is the rule's id when
 * the proto names a stable reason (a CEL rule with an UPPER_SNAKE id such as
 * "VEHICLE_COUNT_OUT_OF_RANGE", in @weelo/errors' catalog), else "INVALID_ARGUMENT".
 */
import { create, createRegistry, type DescMessage, hasOption, type Message } from "@bufbuild/protobuf";
import { pathToString } from "@bufbuild/protobuf/reflect";
import { createValidator, type Violation } from "@bufbuild/protovalidate";
import {
  field as fieldRules,
  message as messageRules,
  oneof as oneofRules,
} from "@weelo/contracts/es/buf/validate/validate_pb";
import { file_weelo_common_v1_rules } from "@weelo/contracts/es/weelo/common/v1/rules_pb";
import { type FieldViolation, InvalidArgumentError, isReason } from "@weelo/errors";

/**
 * One protovalidate instance per process: it caches a compiled plan per message descriptor. It
 * knows Weelo's shared (predefined) rules, e.g. weelo.common.v1.vehicle_count.
 */
const validator = createValidator({ registry: createRegistry(file_weelo_common_v1_rules) });

/** Checks one request; returns the error to answer with, or undefined when the request is valid. */
export type RequestCheck = (message: Message) => InvalidArgumentError | undefined;

/**
 * The compiled check for a request type, or undefined when its proto (and every message it
 * holds) states no rule. Compiling here, at start, also fails fast on a rule protovalidate
 * cannot compile instead of at the first call.
 */
export function requestCheck(schema: DescMessage): RequestCheck | undefined {
  if (!statesRules(schema)) return undefined;
  const warmUp = validator.validate(schema, create(schema));
  if (warmUp.kind === "error")
    throw new Error(`the rules of ${schema.typeName} do not compile: ${warmUp.error.message}`);
  return (message) => {
    const result = validator.validate(schema, message as never);
    if (result.kind === "valid") return undefined;
    if (result.kind === "invalid") return violationsError(result.violations);
    // A rule that fails to evaluate (e.g. a CEL runtime error) refuses the request, it never lets it through.
    return new InvalidArgumentError("", `the request could not be validated: ${result.error.message}`, {
      reason: "VALIDATION_FAILED",
    });
  };
}

/** The InvalidArgumentError for protovalidate's violations: every field, the first one's text as the message. */
export function violationsError(violations: readonly Violation[]): InvalidArgumentError {
  const fieldViolations: FieldViolation[] = violations.map((v) => ({
    field: pathToString(v.field),
    description: v.message,
    reason: v.ruleId,
  }));
  const first = fieldViolations[0]!;
  const text = fieldViolations.map((v) => (v.field ? `${v.field}: ${v.description}` : v.description)).join("; ");
  // A rule id the catalog names (e.g. VEHICLE_COUNT_OUT_OF_RANGE) is the reason; reasons.test.ts
  // proves every UPPER_SNAKE id in the protos is catalogued.
  const reason = isReason(first.reason) ? first.reason : "INVALID_ARGUMENT";
  return new InvalidArgumentError(first.field, text, { reason, violations: fieldViolations });
}

/** True when the message, or any message it holds, carries a buf.validate rule. */
export function statesRules(schema: DescMessage, seen = new Set<string>()): boolean {
  if (seen.has(schema.typeName)) return false; // recursive types: already being looked at
  seen.add(schema.typeName);
  if (hasOption(schema, messageRules)) return true;
  if (schema.oneofs.some((o) => hasOption(o, oneofRules))) return true;
  for (const field of schema.fields) {
    if (hasOption(field, fieldRules)) return true;
    if (field.message && statesRules(field.message, seen)) return true;
  }
  return false;
}
