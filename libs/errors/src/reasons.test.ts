/**
 * The reason catalog is complete and consistent. The error classes take only catalogued reasons
 * (tsc proves those); this suite covers what the compiler cannot see: reasons written into
 * ConnectErrors, REST envelopes and socket frames without the classes, the protovalidate rule
 * ids of the protos, and that each reason travels with the code the catalog states.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import { createFileRegistry, fromBinary, getOption, hasOption } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { descriptorSetBase64 } from "@weelo/contracts/descriptor-set";
import { field as fieldRules, message as messageRules, predefined } from "@weelo/contracts/es/buf/validate/validate_pb";
import ts from "typescript";
import { GrpcCode } from "./codes.js";
import { REASONS, type ReasonEntry } from "./reasons.js";
import { InvalidArgumentError, isReason } from "./index.js";

const root = new URL("../../..", import.meta.url).pathname;
const UPPER_SNAKE = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$/;

/** The code each error class sends, for the reasons given to it. */
const CLASS_CODES: Record<string, GrpcCode> = {
  InvalidArgumentError: GrpcCode.INVALID_ARGUMENT,
  UnauthenticatedError: GrpcCode.UNAUTHENTICATED,
  PermissionDeniedError: GrpcCode.PERMISSION_DENIED,
  NotFoundError: GrpcCode.NOT_FOUND,
  AlreadyExistsError: GrpcCode.ALREADY_EXISTS,
  FailedPreconditionError: GrpcCode.FAILED_PRECONDITION,
  ResourceExhaustedError: GrpcCode.RESOURCE_EXHAUSTED,
  UnavailableError: GrpcCode.UNAVAILABLE,
  InternalError: GrpcCode.INTERNAL,
};

/** Connect's code names (Code.ResourceExhausted) → gRPC codes. */
const CONNECT_CODES: Record<string, GrpcCode> = Object.fromEntries(
  Object.entries(GrpcCode).map(([name, code]) => [
    name
      .toLowerCase()
      .replace(/(?:^|_)([a-z])/g, (_, c: string) => c.toUpperCase())
      .replace("Cancelled", "Canceled"),
    code,
  ]),
);

interface Use {
  reason: string;
  where: string;
  /** The code it is sent with, when the source says so. */
  code?: GrpcCode;
}

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name === "gen") continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) sourceFiles(path, out);
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts")) out.push(path);
  }
  return out;
}

/** The code a call site states: an error class, `super(GrpcCode.X…)`, `Code.X`, or a `code: "X"` beside the reason. */
function codeOf(node: ts.Node): GrpcCode | undefined {
  if (ts.isNewExpression(node)) {
    const name = node.expression.getText();
    if (name in CLASS_CODES) return CLASS_CODES[name];
  }
  const args = ts.isCallExpression(node) || ts.isNewExpression(node) ? (node.arguments ?? []) : [];
  for (const arg of args) {
    const text = arg.getText();
    const grpc = /^GrpcCode\.([A-Z_]+)$/.exec(text);
    if (grpc) return GrpcCode[grpc[1] as keyof typeof GrpcCode];
    const connect = /^Code\.([A-Za-z]+)$/.exec(text);
    if (connect) return CONNECT_CODES[connect[1]!];
    if (ts.isNumericLiteral(arg)) return Number(arg.text) as GrpcCode;
  }
  if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.SuperKeyword) {
    let cls: ts.Node | undefined = node;
    while (cls && !ts.isClassDeclaration(cls)) cls = cls.parent;
    const base =
      cls && ts.isClassDeclaration(cls) ? cls.heritageClauses?.[0]?.types[0]?.expression.getText() : undefined;
    if (base && base in CLASS_CODES) return CLASS_CODES[base];
  }
  if (ts.isObjectLiteralExpression(node)) {
    for (const p of node.properties) {
      if (ts.isPropertyAssignment(p) && p.name.getText() === "code" && ts.isStringLiteral(p.initializer))
        return GrpcCode[p.initializer.text as keyof typeof GrpcCode];
    }
  }
  return undefined;
}

function literalsIn(node: ts.Node): ts.StringLiteralLike[] {
  const found: ts.StringLiteralLike[] = [];
  const visit = (n: ts.Node) => {
    if (ts.isStringLiteralLike(n) && UPPER_SNAKE.test(n.text)) found.push(n);
    else if (!ts.isCallExpression(n)) n.forEachChild(visit); // a call's result is not a literal reason
  };
  visit(node);
  return found;
}

/**
 * Every reason literal in the sources: the value of a `reason:` property (a DomainError option,
 * an ErrorInfo, a socket error frame), the `code` of a REST error envelope, and an upper-case
 * string passed beside a code to a function building an error (e.g. a ConnectError refusal).
 */
function reasonUses(): Use[] {
  const uses: Use[] = [];
  const dirs = [
    "gateway/src",
    ...["libs", "services"].flatMap((d) => readdirSync(join(root, d)).map((n) => `${d}/${n}/src`)),
  ];
  for (const dir of dirs) {
    let files: string[];
    try {
      files = sourceFiles(join(root, dir));
    } catch {
      continue; // a workspace without src/
    }
    for (const file of files) {
      const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
      const at = (n: ts.Node) =>
        `${relative(root, file)}:${source.getLineAndCharacterOfPosition(n.getStart()).line + 1}`;
      const visit = (node: ts.Node) => {
        if (ts.isPropertyAssignment(node)) {
          const name = node.name.getText();
          const envelope =
            name === "code" &&
            ts.isPropertyAssignment(node.parent.parent) &&
            node.parent.parent.name.getText() === "error";
          if (name === "reason" || envelope) {
            let owner: ts.Node = node.parent;
            let code = codeOf(owner);
            while (code === undefined && owner.parent && !ts.isBlock(owner.parent) && !ts.isSourceFile(owner.parent)) {
              owner = owner.parent;
              code = codeOf(owner);
            }
            for (const literal of literalsIn(node.initializer))
              uses.push({ reason: literal.text, where: at(literal), code: envelope ? undefined : code });
          }
        }
        if (
          (ts.isCallExpression(node) || ts.isNewExpression(node)) &&
          !ts.isPropertyAccessExpression(node.expression)
        ) {
          const args = node.arguments ?? [];
          const code = codeOf(node);
          const codeArgs = args.filter(
            (a) => /^(?:Grpc)?Code\./.test(a.getText()) || (ts.isStringLiteral(a) && a.text in GrpcCode),
          );
          if (codeArgs.length > 0) {
            for (const arg of args) {
              if (codeArgs.includes(arg) || !ts.isStringLiteral(arg) || !UPPER_SNAKE.test(arg.text)) continue;
              const stated = ts.isStringLiteral(codeArgs[0]!)
                ? GrpcCode[codeArgs[0].text as keyof typeof GrpcCode]
                : code;
              uses.push({ reason: arg.text, where: at(arg), code: stated });
            }
          }
        }
        node.forEachChild(visit);
      };
      visit(source);
    }
  }
  return uses;
}

/** The ids of the CEL rules in the protos: predefined (shared) rules, field rules and message rules. */
function protoRuleIds(): string[] {
  const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, Buffer.from(descriptorSetBase64, "base64")));
  const ids: string[] = [];
  for (const file of registry.files) {
    if (file.name.startsWith("buf/")) continue;
    for (const ext of file.extensions)
      if (hasOption(ext, predefined)) ids.push(...getOption(ext, predefined).cel.map((c) => c.id));
  }
  for (const type of registry) {
    if (type.kind !== "message") continue;
    if (hasOption(type, messageRules)) ids.push(...getOption(type, messageRules).cel.map((c) => c.id));
    for (const f of type.fields)
      if (hasOption(f, fieldRules)) ids.push(...getOption(f, fieldRules).cel.map((c) => c.id));
  }
  return ids;
}

const codesOf = (entry: ReasonEntry): readonly GrpcCode[] => [entry.code, ...(entry.alsoCodes ?? [])];

describe("the reason catalog", () => {
  it("names every reason in UPPER_SNAKE with a gRPC code and a one-line meaning, and every code's default", () => {
    const codes = new Set<number>(Object.values(GrpcCode));
    for (const [reason, entry] of Object.entries(REASONS) as [string, ReasonEntry][]) {
      assert.match(reason, UPPER_SNAKE);
      for (const code of codesOf(entry)) assert.ok(codes.has(code) && code !== GrpcCode.OK, reason);
      assert.ok(entry.meaning.length > 10 && !entry.meaning.includes("\n"), reason);
    }
    for (const name of Object.keys(GrpcCode).filter((n) => n !== "OK")) {
      assert.ok(isReason(name), name);
      assert.equal(REASONS[name as keyof typeof REASONS].code, GrpcCode[name as keyof typeof GrpcCode]);
    }
    assert.equal(isReason("constructor"), false, "no inherited keys");
  });

  it("holds every reason the sources send, with the code they send it with", () => {
    const uses = reasonUses();
    // The scan finds the classes' reasons, the gateway's refusals, REST envelopes and socket frames.
    for (const known of ["OTP_EXPIRED", "PAYLOAD_TOO_LARGE", "BAD_FRAME"])
      assert.ok(
        uses.some((u) => u.reason === known),
        `the scan sees ${known}`,
      );
    // …and the code beside each: an error class, a ConnectError's Code, a socket frame's code.
    for (const [reason, code] of [
      ["OTP_COOLDOWN", GrpcCode.RESOURCE_EXHAUSTED],
      ["TOO_MANY_STREAMS", GrpcCode.RESOURCE_EXHAUSTED],
      ["OTHER_USER", GrpcCode.PERMISSION_DENIED],
      ["ROUTE_NOT_FOUND", GrpcCode.NOT_FOUND],
    ] as const)
      assert.ok(
        uses.some((u) => u.reason === reason && u.code === code),
        `the scan sees ${reason} with its code`,
      );
    const missing = uses.filter((u) => !isReason(u.reason)).map((u) => `${u.where} ${u.reason}`);
    assert.deepEqual(missing, [], "reasons sent but not in libs/errors/src/reasons.ts");
    const wrongCode = uses
      .filter(
        (u) =>
          isReason(u.reason) &&
          u.code !== undefined &&
          !codesOf(REASONS[u.reason as keyof typeof REASONS]).includes(u.code),
      )
      .map(
        (u) =>
          `${u.where} ${u.reason} sent as code ${u.code}, catalogued as ${REASONS[u.reason as keyof typeof REASONS].code}`,
      );
    assert.deepEqual(wrongCode, []);
  });

  it("holds every UPPER_SNAKE rule id of the protos, which protovalidate answers as the reason", () => {
    const ids = protoRuleIds();
    assert.ok(ids.includes("VEHICLE_COUNT_OUT_OF_RANGE"), "the shared rules are read");
    assert.deepEqual(
      ids.filter((id) => UPPER_SNAKE.test(id) && !isReason(id)),
      [],
      "rule ids a client reads as reasons but the catalog lacks",
    );
  });

  it("is what an error falls back to: the code's name when it states no reason", () => {
    assert.equal(new InvalidArgumentError("phone", "bad").reason, "INVALID_ARGUMENT");
    assert.equal(new InvalidArgumentError("phone", "bad", { reason: "PHONE_INVALID" }).reason, "PHONE_INVALID");
  });
});
