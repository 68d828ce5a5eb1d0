/**
 * A one-RPC service descriptor built at run time, so the bench needs no .proto
 * file (proto/ belongs to the contracts owner) and no codegen step.
 *
 *   syntax = "proto3";
 *   package weelo.bench.v1;
 *   message EchoRequest  { string message = 1; }
 *   message EchoResponse { string message = 1; }
 *   service EchoService  { rpc Echo(EchoRequest) returns (EchoResponse); }
 *
 * The descriptor is assembled as a google.protobuf.FileDescriptorProto and
 * turned into a registry with `createFileRegistry`; the exported schemas are
 * then hydrated the same way protoc-gen-es output does it (`messageDesc`,
 * `serviceDesc`), so they are typed exactly like generated code.
 */
import { create, createFileRegistry, type Message } from "@bufbuild/protobuf";
import { messageDesc, serviceDesc, type GenMessage, type GenService } from "@bufbuild/protobuf/codegenv2";
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FileDescriptorProtoSchema,
} from "@bufbuild/protobuf/wkt";

const FILE_NAME = "weelo/bench/v1/echo.proto";
const PACKAGE = "weelo.bench.v1";

const stringField = (name: string, number: number) => ({
  name,
  number,
  jsonName: name,
  type: FieldDescriptorProto_Type.STRING,
  label: FieldDescriptorProto_Label.OPTIONAL,
});

const fileProto = create(FileDescriptorProtoSchema, {
  name: FILE_NAME,
  package: PACKAGE,
  syntax: "proto3",
  messageType: [
    { name: "EchoRequest", field: [stringField("message", 1)] },
    { name: "EchoResponse", field: [stringField("message", 1)] },
  ],
  service: [
    {
      name: "EchoService",
      method: [{ name: "Echo", inputType: `.${PACKAGE}.EchoRequest`, outputType: `.${PACKAGE}.EchoResponse` }],
    },
  ],
});

// No imports, so the resolver is never asked for anything.
const registry = createFileRegistry(fileProto, () => undefined);
const file = registry.getFile(FILE_NAME);
if (!file) throw new Error(`bench: descriptor ${FILE_NAME} did not register`);

export type EchoRequest = Message<"weelo.bench.v1.EchoRequest"> & { message: string };
export type EchoResponse = Message<"weelo.bench.v1.EchoResponse"> & { message: string };

export const EchoRequestSchema: GenMessage<EchoRequest> = messageDesc(file, 0);
export const EchoResponseSchema: GenMessage<EchoResponse> = messageDesc(file, 1);

export const EchoService: GenService<{
  echo: { methodKind: "unary"; input: typeof EchoRequestSchema; output: typeof EchoResponseSchema };
}> = serviceDesc(file, 0);

/** Connect path of the Echo RPC: POST this with `content-type: application/json`. */
export const ECHO_PATH = `/${EchoService.typeName}/${EchoService.method.echo.name}`;

/** The request body every echo-style target is loaded with (identical bytes for raw and Connect). */
export const ECHO_BODY = JSON.stringify({ message: "hello from the weelo bench" });
