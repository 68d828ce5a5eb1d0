/**
 * Server reflection as a developer uses it: `buf curl --reflect` (no local protos) against the
 * public gRPC listener and the gateway's port lists the public services and nothing internal,
 * describes them, and calls a method from the descriptors it fetched. buf runs as a child
 * process, asynchronously: the system under test answers from this same process.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { create, createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { descriptorSetBase64 } from "@weelo/contracts/descriptor-set";
import { reflectionServiceDescs } from "@weelo/grpc";
import { startTestSystem, uniquePhone, type TestSystem } from "./test-support.js";

const run = promisify(execFile);

/** Asks a server's grpc.reflection.v1 questions over one stream (gRPC over h2c) and returns its answers in order. */
async function reflect(
  baseUrl: string,
  questions: { case: string; value: unknown }[],
  version: "v1" | "v1alpha" = "v1",
): Promise<any[]> {
  const service = reflectionServiceDescs().find(
    (desc) => desc.typeName === `grpc.reflection.${version}.ServerReflection`,
  )!;
  const client = createClient(service, createGrpcTransport({ baseUrl })) as any;
  async function* requests() {
    for (const messageRequest of questions) yield { host: "", messageRequest };
  }
  const answers: any[] = [];
  for await (const answer of client.serverReflectionInfo(requests())) answers.push(answer);
  return answers;
}

/** Files ordered so that each comes after everything it imports (what a FileDescriptorSet registry needs). */
function importsFirst(files: FileDescriptorProto[]): FileDescriptorProto[] {
  const byName = new Map(files.map((file) => [file.name, file]));
  const ordered: FileDescriptorProto[] = [];
  const visit = (file: FileDescriptorProto) => {
    if (ordered.includes(file)) return;
    for (const dependency of file.dependency) visit(byName.get(dependency)!);
    ordered.push(file);
  };
  files.forEach(visit);
  return ordered;
}

/** Every contract file, as the bytes buf generate wrote into the descriptor set (repeated file = 1). */
function contractFiles(): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const reader = new BinaryReader(Buffer.from(descriptorSetBase64, "base64"));
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field !== 1) {
      reader.skip(wireType, field);
      continue;
    }
    const bytes = Buffer.from(reader.bytes());
    files.set(fromBinary(FileDescriptorProtoSchema, bytes).name, bytes);
  }
  return files;
}
const buf = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../node_modules/.bin/buf");

const PUBLIC = [
  "weelo.identity.v1.AuthService",
  "weelo.identity.v1.ProfileService",
  "weelo.fleet.v1.VehicleService",
  "weelo.fleet.v1.DriverService",
  "weelo.fleet.v1.TransporterService",
  "weelo.pricing.v1.PricingService",
  "weelo.booking.v1.BookingService",
  "weelo.tracking.v1.TrackingService",
  "weelo.notification.v1.NotificationService",
  "weelo.dispatch.v1.DispatchService",
];
const INTERNAL = [
  "BookingDispatchService",
  "FleetDirectoryService",
  "ContactDirectoryService",
  "TrackingInternalService",
  "QuoteRedemptionService",
  "AccountAdminService",
];

/** Runs `buf curl` with the arguments; resolves with its stdout (rejects with stderr on a non-zero exit). */
async function bufCurl(...args: string[]): Promise<string> {
  try {
    const { stdout } = await run(buf, ["curl", ...args], { timeout: 30_000 });
    return stdout;
  } catch (error) {
    const { stderr, stdout } = error as { stderr?: string; stdout?: string };
    throw new Error(`buf curl ${args.join(" ")} failed: ${stderr ?? ""}${stdout ?? ""}`);
  }
}

describe("server reflection with buf curl", () => {
  let system: TestSystem;
  /** The two places reflection is served, with the flags buf needs to speak gRPC over h2c to each. */
  let targets: { name: string; base: string; flags: string[] }[];
  before(async () => {
    system = await startTestSystem({ OTP_RESEND_COOLDOWN_S: "0" });
    targets = [
      {
        name: "the public gRPC listener",
        base: `http://127.0.0.1:${system.grpcPort}`,
        flags: ["--protocol", "grpc", "--http2-prior-knowledge"],
      },
      { name: "the gateway port", base: system.url, flags: ["--protocol", "grpc", "--http2-prior-knowledge"] },
    ];
  });
  after(async () => {
    await system?.stop();
  });

  it("lists the public services, health on the gRPC listener, and no internal service", async () => {
    for (const { name, base, flags } of targets) {
      const listed = (await bufCurl(...flags, "--list-services", base)).trim().split("\n");
      for (const service of PUBLIC)
        assert.ok(listed.includes(service), `${name} lists ${service}: ${listed.join(", ")}`);
      for (const internal of INTERNAL)
        assert.ok(!listed.some((line) => line.includes(internal)), `${name} must not list ${internal}`);
      assert.ok(listed.includes("grpc.reflection.v1.ServerReflection"), `${name} lists reflection`);
      if (name === "the public gRPC listener")
        assert.ok(listed.includes("grpc.health.v1.Health"), `${name} lists health`);
    }
  });

  it("lists the methods of every listed service", async () => {
    for (const { name, base, flags } of targets) {
      const methods = (await bufCurl(...flags, "--list-methods", base)).trim().split("\n");
      assert.ok(methods.includes("weelo.identity.v1.AuthService/SendOtp"), `${name}: ${methods.join(", ")}`);
      assert.ok(methods.includes("weelo.booking.v1.BookingService/CreateBooking"), `${name}: ${methods.join(", ")}`);
      assert.ok(methods.includes("weelo.tracking.v1.TrackingService/StreamLocation"), `${name}: ${methods.join(", ")}`);
      for (const internal of INTERNAL)
        assert.ok(!methods.some((line) => line.includes(internal)), `${name} must not list ${internal}`);
    }
  });

  it("describes a service: its file as buf wrote it, with every import", async () => {
    const contracts = contractFiles();
    for (const { name, base } of targets) {
      const answers = await reflect(base, [
        { case: "fileContainingSymbol", value: "weelo.booking.v1.BookingService" },
        { case: "fileContainingSymbol", value: "weelo.identity.v1.AuthService.SendOtp" },
        { case: "fileByFilename", value: "weelo/identity/v1/account_admin_service.proto" },
        { case: "fileContainingSymbol", value: "weelo.identity.v1.AccountAdminService" },
      ]);
      const booking = answers[0]!.messageResponse;
      assert.equal(booking.case, "fileDescriptorResponse", name);
      const files = booking.value.fileDescriptorProto.map((bytes: Uint8Array) =>
        fromBinary(FileDescriptorProtoSchema, bytes),
      );
      assert.equal(files[0].name, "weelo/booking/v1/booking_service.proto", name);
      const names = new Set(files.map((file: { name: string }) => file.name));
      for (const file of files)
        for (const dependency of file.dependency)
          assert.ok(names.has(dependency), `${name}: ${file.name} imports ${dependency}, which was not sent`);
      for (const [index, bytes] of booking.value.fileDescriptorProto.entries())
        assert.deepEqual(
          Buffer.from(bytes),
          contracts.get(files[index].name),
          `${name}: ${files[index].name} as buf wrote it`,
        );
      const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: importsFirst(files) }));
      assert.deepEqual(
        registry
          .getService("weelo.booking.v1.BookingService")
          ?.methods.map((m) => m.name)
          .includes("CreateBooking"),
        true,
        name,
      );
      assert.equal(answers[1]!.messageResponse.case, "fileDescriptorResponse", `${name}: a method is a symbol`);
      // An internal contract is not described, by file name or by symbol.
      for (const refused of answers.slice(2)) {
        assert.equal(refused.messageResponse.case, "errorResponse", name);
        assert.equal(refused.messageResponse.value.errorCode, 5, name);
      }
    }
  });

  it("calls AuthService/SendOtp by reflection alone on both ports", async () => {
    for (const { name, base, flags } of targets) {
      const body = JSON.stringify({ phone: uniquePhone(), role: "ROLE_CUSTOMER" });
      const answer = JSON.parse(await bufCurl(...flags, "-d", body, `${base}/weelo.identity.v1.AuthService/SendOtp`));
      assert.ok(Date.parse(answer.expiresAt) > Date.now(), `${name}: ${JSON.stringify(answer)}`);
      assert.match(answer.devOtp, /^\d{6}$/, name);
    }
  });

  it("checks grpc.health.v1.Health by reflection on the public gRPC listener", async () => {
    const { base, flags } = targets[0]!;
    const overall = JSON.parse(await bufCurl(...flags, "-d", "{}", `${base}/grpc.health.v1.Health/Check`));
    assert.deepEqual(overall, { status: "SERVING" });
    const auth = JSON.parse(
      await bufCurl(
        ...flags,
        "-d",
        '{"service":"weelo.identity.v1.AuthService"}',
        `${base}/grpc.health.v1.Health/Check`,
      ),
    );
    assert.deepEqual(auth, { status: "SERVING" });
  });

  it("speaks grpc.reflection.v1alpha too (older grpcurl), with the same answers", async () => {
    for (const { name, base } of targets) {
      const [listed, file] = await reflect(
        base,
        [
          { case: "listServices", value: "" },
          { case: "fileContainingSymbol", value: "weelo.identity.v1.AuthService" },
        ],
        "v1alpha",
      );
      const services = listed.messageResponse.value.service.map((s: { name: string }) => s.name);
      assert.ok(services.includes("weelo.identity.v1.AuthService"), `${name}: ${services.join(", ")}`);
      for (const internal of INTERNAL)
        assert.ok(!services.some((s: string) => s.includes(internal)), `${name} must not list ${internal}`);
      assert.equal(
        fromBinary(FileDescriptorProtoSchema, file.messageResponse.value.fileDescriptorProto[0]).name,
        "weelo/identity/v1/auth_service.proto",
        name,
      );
    }
  });

  it("refuses reflection over HTTP/1.1 on the gateway with 400 and the reason (it is a bidirectional stream)", async () => {
    const response = await fetch(`${system.url}/grpc.reflection.v1.ServerReflection/ServerReflectionInfo`, {
      method: "POST",
      headers: { "content-type": "application/connect+proto", "connect-protocol-version": "1" },
      body: new Uint8Array(0),
    });
    assert.equal(response.status, 400);
    assert.match(JSON.stringify(await response.json()), /bidirectional stream/);
  });

  it("answers the extension questions from the served files, and NOT_FOUND for an unknown type", async () => {
    const answers = await reflect(targets[0]!.base, [
      { case: "allExtensionNumbersOfType", value: "weelo.identity.v1.SendOtpRequest" },
      { case: "allExtensionNumbersOfType", value: "no.such.Type" },
      {
        case: "fileContainingExtension",
        value: { containingType: "weelo.identity.v1.SendOtpRequest", extensionNumber: 1000 },
      },
    ]);
    assert.deepEqual(
      [
        answers[0]!.messageResponse.case,
        answers[0]!.messageResponse.value.baseTypeName,
        answers[0]!.messageResponse.value.extensionNumber,
      ],
      ["allExtensionNumbersResponse", "weelo.identity.v1.SendOtpRequest", []],
    );
    assert.equal(answers[1]!.messageResponse.value.errorCode, 5);
    assert.equal(answers[2]!.messageResponse.value.errorCode, 5);
  });
});
