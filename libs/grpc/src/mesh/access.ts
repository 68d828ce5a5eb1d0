/**
 * Who may call what, as the contracts declare it: an internal service names its callers with
 * `(weelo.common.v1.callers)` (or a method with `method_callers`) in its proto. Read once at
 * start from the descriptor set that `buf generate` writes, so the rule lives in one place.
 */
import { createFileRegistry, fromBinary, getOption, hasOption, type FileRegistry } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { descriptorSetBase64 } from "@weelo/contracts/descriptor-set";
import { callers, method_callers } from "@weelo/contracts/es/weelo/common/v1/access_pb";

let registry: FileRegistry | undefined;

/** Every Weelo contract and its imports (the descriptor set `buf generate` writes). */
export function contractRegistry(): FileRegistry {
  registry ??= createFileRegistry(fromBinary(FileDescriptorSetSchema, Buffer.from(descriptorSetBase64, "base64")));
  return registry;
}

export interface ServiceAccess {
  /** True when the contract names callers: the service is served on the mesh listener only. */
  readonly internal: boolean;
  /** The services that may call a method (internal services); undefined for a public service. */
  callersOf(method: string): readonly string[] | undefined;
}

/** The access rule of a service as its proto declares it. */
export function declaredAccess(serviceName: string): ServiceAccess {
  const service = contractRegistry().getService(serviceName);
  if (!service) throw new Error(`no contract for ${serviceName} in the descriptor set: run buf generate`);
  const serviceCallers = hasOption(service, callers) ? getOption(service, callers) : [];
  const byMethod = new Map<string, readonly string[]>();
  for (const method of service.methods) {
    const own = hasOption(method, method_callers) ? getOption(method, method_callers) : [];
    byMethod.set(method.name, own.length > 0 ? own : serviceCallers);
  }
  const internal = [...byMethod.values()].some((list) => list.length > 0);
  if (internal) {
    const open = [...byMethod].filter(([, list]) => list.length === 0).map(([name]) => name);
    if (open.length > 0) throw new Error(`${serviceName} is internal but ${open.join(", ")} names no callers`);
  }
  return { internal, callersOf: (method) => (internal ? (byMethod.get(method) ?? []) : undefined) };
}
