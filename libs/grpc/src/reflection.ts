/**
 * gRPC server reflection (grpc.reflection.v1 and v1alpha) over the REAL descriptor set that
 * `buf generate` writes: each file is served as the bytes buf wrote, with every file it names
 * in `dependency` (imports used only for options included), so `buf curl --reflect` and
 * grpcurl can describe and call any method without local protos.
 *
 * One answerer, two transports: `addReflection` puts it on a grpc-js server (the services'
 * public listener), `reflectionRoutes` on a Connect router (the gateway). What is served is
 * bounded by the services given: their files and those files' imports, nothing else, so a
 * listener that serves only public services never describes an internal one.
 */
import { createRequire } from "node:module";
import path from "node:path";
import {
  clearField,
  create,
  createFileRegistry,
  fromBinary,
  toBinary,
  type DescMessage,
  type DescService,
  type FileRegistry,
  type Message,
} from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import {
  FieldDescriptorProtoSchema,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  type FileDescriptorProto,
} from "@bufbuild/protobuf/wkt";
import type { ConnectRouter } from "@connectrpc/connect";
import type * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { descriptorSetBase64 } from "@weelo/contracts/descriptor-set";

export const REFLECTION_SERVICES = [
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
] as const;
export const HEALTH_SERVICE = "grpc.health.v1.Health";

/** grpc status codes used in error_response. */
const NOT_FOUND = 5;
const INVALID_ARGUMENT = 3;

interface SourceFile {
  name: string;
  /** The serialized FileDescriptorProto, as written by buf (or by proto-loader for grpc's own protos). */
  bytes: Uint8Array;
  dependencies: readonly string[];
}

interface Pool {
  files: Map<string, SourceFile>;
  registry: FileRegistry;
}

let pool: Pool | undefined;

/** Every contract file (original bytes), plus grpc's health and reflection protos. */
function descriptorPool(): Pool {
  if (pool) return pool;
  const files = new Map<string, SourceFile>();
  const protos: FileDescriptorProto[] = [];
  // Split the set by hand so each file keeps the bytes buf wrote (FileDescriptorSet: repeated file = 1).
  const reader = new BinaryReader(Buffer.from(descriptorSetBase64, "base64"));
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field !== 1 || wireType !== WireType.LengthDelimited) {
      reader.skip(wireType, field);
      continue;
    }
    const bytes = reader.bytes();
    const proto = fromBinary(FileDescriptorProtoSchema, bytes);
    files.set(proto.name, { name: proto.name, bytes, dependencies: proto.dependency });
    protos.push(proto);
  }
  for (const proto of grpcProtos()) {
    files.set(proto.name, {
      name: proto.name,
      bytes: toBinary(FileDescriptorProtoSchema, proto),
      dependencies: proto.dependency,
    });
    protos.push(proto);
  }
  pool = { files, registry: createFileRegistry(create(FileDescriptorSetSchema, { file: protos })) };
  return pool;
}

/**
 * grpc's own protos, which the contracts' descriptor set does not hold: health (shipped by
 * grpc-health-check) and reflection (shipped by @grpc/reflection), compiled by proto-loader
 * and given their canonical file names (proto-loader names a file by its package).
 */
function grpcProtos(): FileDescriptorProto[] {
  const require = createRequire(import.meta.url);
  const packageDir = (name: string) => path.dirname(require.resolve(`${name}/package.json`));
  const load = (
    root: string,
    file: string,
    canonical: string,
    served?: { methods: readonly string[] },
  ): FileDescriptorProto => {
    const definition = protoLoader.loadSync(file, { includeDirs: [root] });
    const first = Object.values(definition).find((entry) => "fileDescriptorProtos" in entry) as
      | { fileDescriptorProtos: Buffer[] }
      | undefined;
    const protos = (first?.fileDescriptorProtos ?? []).map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes));
    if (protos.length !== 1) throw new Error(`expected one file in ${file}, got ${protos.length}`);
    const proto = protos[0]!;
    proto.name = canonical;
    if (served) {
      // Describe only what is answered: methods the server does not implement, and their messages, are left out.
      const kept = new Set<string>();
      for (const service of proto.service) {
        service.method = service.method.filter((m) => served.methods.includes(m.name));
        for (const m of service.method)
          kept.add(m.inputType.replace(/^.*\./, "")).add(m.outputType.replace(/^.*\./, ""));
      }
      proto.messageType = proto.messageType.filter((m) => kept.has(m.name));
    }
    qualifyTypeNames(proto);
    return proto;
  };
  const reflectionRoot = path.join(packageDir("@grpc/reflection"), "build", "proto");
  return [
    // grpc-health-check answers Check and Watch; its .proto also declares List, which it does not implement.
    load(path.join(packageDir("grpc-health-check"), "proto"), "health/v1/health.proto", "grpc/health/v1/health.proto", {
      methods: ["Check", "Watch"],
    }),
    load(reflectionRoot, "grpc/reflection/v1/reflection.proto", "grpc/reflection/v1/reflection.proto"),
    load(reflectionRoot, "grpc/reflection/v1alpha/reflection.proto", "grpc/reflection/v1alpha/reflection.proto"),
  ];
}

/**
 * proto-loader (protobufjs) writes a field's type_name as written in the .proto ("HealthCheckResponse"),
 * where descriptors want it fully qualified (".grpc.health.v1.HealthCheckResponse"): resolve each
 * name as protoc would, from the innermost enclosing scope outwards, among the file's own types.
 */
function qualifyTypeNames(file: FileDescriptorProto): void {
  const declared = new Set<string>();
  const collect = (
    scope: string,
    messages: FileDescriptorProto["messageType"],
    enums: FileDescriptorProto["enumType"],
  ) => {
    for (const e of enums) declared.add(`${scope}.${e.name}`);
    for (const m of messages) {
      declared.add(`${scope}.${m.name}`);
      collect(`${scope}.${m.name}`, m.nestedType, m.enumType);
    }
  };
  const root = file.package ? `.${file.package}` : "";
  collect(root, file.messageType, file.enumType);
  const resolve = (scope: string, name: string): string => {
    if (name === "" || name.startsWith(".")) return name;
    for (let at = scope; ; at = at.slice(0, at.lastIndexOf("."))) {
      if (declared.has(`${at}.${name}`)) return `${at}.${name}`;
      if (at === "") throw new Error(`${file.name}: cannot resolve type ${name}`);
    }
  };
  const fix = (scope: string, messages: FileDescriptorProto["messageType"]) => {
    for (const m of messages) {
      const inner = `${scope}.${m.name}`;
      for (const field of m.field) {
        // A scalar field has no type_name at all (protobufjs writes an empty one).
        if (field.typeName === "") clearField(field, FieldDescriptorProtoSchema.field.typeName);
        else field.typeName = resolve(inner, field.typeName);
      }
      fix(inner, m.nestedType);
    }
  };
  fix(root, file.messageType);
  for (const service of file.service) {
    for (const method of service.method) {
      method.inputType = resolve(root, method.inputType);
      method.outputType = resolve(root, method.outputType);
    }
  }
}

/** The reflection service's own descriptors, per protocol version (v1 first: what clients try first). */
export function reflectionServiceDescs(): DescService[] {
  return REFLECTION_SERVICES.map((name) => descriptorPool().registry.getService(name)!);
}

/** What one listener reflects: the services it lists, their files and those files' imports. */
export class ReflectionAnswerer {
  private readonly services: readonly string[];
  /** Files this listener may describe (the closure of its services' files). */
  private readonly served = new Set<string>();

  /** `services`: fully-qualified names of what the listener serves (reflection itself is added). */
  constructor(services: readonly string[]) {
    const { registry } = descriptorPool();
    this.services = [...new Set([...services, ...REFLECTION_SERVICES])];
    for (const name of this.services) {
      const service = registry.getService(name);
      if (!service) throw new Error(`no descriptor for ${name}: run buf generate`);
      for (const file of this.closureOf(service.file.proto.name)) this.served.add(file);
    }
  }

  /** The service names list_services answers. */
  get serviceNames(): readonly string[] {
    return this.services;
  }

  /** Answers one ServerReflectionRequest (a message of either version's schema) with a response of `responseSchema`. */
  answer(request: ReflectionRequest, responseSchema: DescMessage): Message {
    const base = { validHost: request.host, originalRequest: request };
    const respond = (messageResponse: Record<string, unknown>) =>
      create(responseSchema, { ...base, messageResponse } as never);
    const error = (code: number, message: string) =>
      respond({ case: "errorResponse", value: { errorCode: code, errorMessage: message } });
    const files = (name: string | undefined, what: string) =>
      name === undefined
        ? error(NOT_FOUND, `${what} not found`)
        : respond({
            case: "fileDescriptorResponse",
            value: { fileDescriptorProto: this.closureOf(name).map((file) => descriptorPool().files.get(file)!.bytes) },
          });
    const { registry } = descriptorPool();
    const question = request.messageRequest;
    switch (question.case) {
      case "listServices":
        return respond({ case: "listServicesResponse", value: { service: this.services.map((name) => ({ name })) } });
      case "fileByFilename": {
        const value = question.value;
        return files(this.served.has(value) ? value : undefined, `file ${value}`);
      }
      case "fileContainingSymbol":
        return files(this.fileOfSymbol(question.value.replace(/^\./, "")), `symbol ${question.value}`);
      case "fileContainingExtension": {
        const value = question.value;
        const extendee = this.servedMessage(value.containingType);
        const extension = extendee && registry.getExtensionFor(extendee, value.extensionNumber);
        const file = extension && this.served.has(extension.file.proto.name) ? extension.file.proto.name : undefined;
        return files(file, `extension ${value.extensionNumber} of ${value.containingType}`);
      }
      case "allExtensionNumbersOfType": {
        const value = question.value;
        const extendee = this.servedMessage(value);
        if (!extendee) return error(NOT_FOUND, `type ${value} not found`);
        const numbers: number[] = [];
        for (const desc of registry) {
          if (
            desc.kind === "extension" &&
            desc.extendee.typeName === extendee.typeName &&
            this.served.has(desc.file.proto.name)
          )
            numbers.push(desc.number);
        }
        return respond({
          case: "allExtensionNumbersResponse",
          value: { baseTypeName: extendee.typeName, extensionNumber: numbers.sort((a, b) => a - b) },
        });
      }
      default:
        return error(INVALID_ARGUMENT, "the request names no question");
    }
  }

  /** The file (among those served) declaring a symbol: a type, service, extension, method, field or enum value. */
  private fileOfSymbol(symbol: string): string | undefined {
    const { registry } = descriptorPool();
    const fileOf = (desc: { file: { proto: { name: string } } } | undefined) => desc?.file.proto.name;
    let file = fileOf(registry.get(symbol));
    if (!file) {
      const dot = symbol.lastIndexOf(".");
      const parent = registry.get(symbol.slice(0, dot));
      const member = symbol.slice(dot + 1);
      if (parent?.kind === "service" && parent.methods.some((m) => m.name === member)) file = fileOf(parent);
      if (
        parent?.kind === "message" &&
        (parent.fields.some((f) => f.name === member) || parent.oneofs.some((o) => o.name === member))
      )
        file = fileOf(parent);
      if (parent?.kind === "enum" && parent.values.some((v) => v.name === member)) file = fileOf(parent);
    }
    return file && this.served.has(file) ? file : undefined;
  }

  private servedMessage(typeName: string): DescMessage | undefined {
    const message = descriptorPool().registry.getMessage(String(typeName).replace(/^\./, ""));
    return message && this.served.has(message.file.proto.name) ? message : undefined;
  }

  /** A file and every file it imports, transitively, by the `dependency` names: the file first. */
  private closureOf(name: string): string[] {
    const { files } = descriptorPool();
    const seen: string[] = [];
    const visit = (file: string) => {
      if (seen.includes(file)) return;
      const source = files.get(file);
      if (!source) throw new Error(`${file} is imported but not in the descriptor set`);
      seen.push(file);
      for (const dependency of source.dependencies) visit(dependency);
    };
    visit(name);
    return seen;
  }
}

/** The fields both versions' ServerReflectionRequest share, as protobuf-es decodes them. */
interface ReflectionRequest {
  host: string;
  messageRequest:
    | { case: "listServices" | "fileByFilename" | "fileContainingSymbol" | "allExtensionNumbersOfType"; value: string }
    | { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } }
    | { case: undefined; value?: undefined };
}

/** Serves reflection (v1 and v1alpha) for `services` on a grpc-js server. */
export function addReflection(server: grpc.Server, services: readonly string[]): ReflectionAnswerer {
  const answerer = new ReflectionAnswerer(services);
  for (const desc of reflectionServiceDescs()) {
    const method = desc.methods[0]!;
    const definition: grpc.ServiceDefinition = {
      [method.name]: {
        path: `/${desc.typeName}/${method.name}`,
        requestStream: true,
        responseStream: true,
        requestSerialize: (message: Message) => Buffer.from(toBinary(method.input, message)),
        requestDeserialize: (bytes: Buffer) => fromBinary(method.input, bytes),
        responseSerialize: (message: Message) => Buffer.from(toBinary(method.output, message)),
        responseDeserialize: (bytes: Buffer) => fromBinary(method.output, bytes),
      },
    };
    server.addService(definition, {
      [method.name]: (call: grpc.ServerDuplexStream<ReflectionRequest, Message>) => {
        call.on("data", (request) => call.write(answerer.answer(request, method.output)));
        call.on("end", () => call.end());
        call.on("error", () => undefined);
      },
    });
  }
  return answerer;
}

/** Registers reflection (v1 and v1alpha) for `services` on a Connect router. */
export function reflectionRoutes(router: ConnectRouter, services: readonly string[]): ReflectionAnswerer {
  const answerer = new ReflectionAnswerer(services);
  for (const desc of reflectionServiceDescs()) {
    const method = desc.methods[0]!;
    router.service(desc, {
      [method.localName]: async function* (requests: AsyncIterable<ReflectionRequest>) {
        for await (const request of requests) yield answerer.answer(request, method.output);
      },
    } as never);
  }
  return answerer;
}
