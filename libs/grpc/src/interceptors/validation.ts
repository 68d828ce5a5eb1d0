/**
 * The contract's field rules (buf.validate) for a grpc-js service, checked as each request
 * message is decoded. The services' handlers read ts-proto messages, which protovalidate cannot
 * read; so a request type whose proto states rules is also decoded as a protobuf-es message
 * (from the descriptor set `buf generate` writes) and checked with @weelo/validate, the same
 * checks the gateway runs. The checks are compiled once per method when the service is added.
 *
 * A refusal is not answered here: the deserializer returns it as a RefusedRequest, and the
 * handler throws it where it would have read the message, after the interceptor chain has
 * authenticated the caller (an anonymous caller learns nothing about the contract's rules, and
 * the refusal is logged and counted like any other).
 */
import { type DescMessage, fromBinary } from "@bufbuild/protobuf";
import type { DomainError } from "@weelo/errors";
import { type RequestCheck, requestCheck } from "@weelo/validate";
import { contractRegistry } from "../mesh/access.js";

/** A request message refused while it was decoded: the handler answers with `error`. */
export class RefusedRequest {
  constructor(readonly error: DomainError) {}
}

/** Checks the bytes of one request message; undefined when they pass. */
export type BytesCheck = (bytes: Uint8Array) => DomainError | undefined;

/** The check for a method ("/pkg.Service/Method"), or undefined when its request type states no rules. */
export function requestBytesCheck(path: string): BytesCheck | undefined {
  const [, serviceName = "", methodName = ""] = path.split("/");
  const input = contractRegistry()
    .getService(serviceName)
    ?.methods.find((m) => m.name === methodName)?.input;
  if (!input) return undefined; // not a Weelo contract (health, reflection): nothing stated
  const check = requestCheck(input);
  return check ? bytesCheck(input, check) : undefined;
}

function bytesCheck(input: DescMessage, check: RequestCheck): BytesCheck {
  return (bytes) => check(fromBinary(input, bytes));
}
