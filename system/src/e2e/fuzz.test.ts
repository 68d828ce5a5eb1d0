/**
 * Property-based fuzzing of the whole public surface against one running system: every
 * method of every public service (gateway/src/upstreams.ts) over Connect JSON and Connect
 * binary, and every REST alias (gateway/src/rest/aliases.ts), with and without valid tokens,
 * fed generated garbage: random bytes, JSON of the wrong types, huge and negative numbers,
 * int64 strings beyond 2^53, strings with control, bidi and zero-width characters, deep
 * nesting, unknown fields, wrong content types. Every answer must be a 4xx (or a 2xx where
 * the input happens to be valid), never a 5xx, and the gateway must still answer /health.
 *
 * Reproducible: the seed comes from FUZZ_SEED (else a fresh one, printed); fast-check prints
 * the seed and path of any counterexample. FUZZ_RUNS scales the runs per method.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { DescField, DescMessage, DescMethod } from "@bufbuild/protobuf";
import fc from "fast-check";
import { PUBLIC_SERVICES, REST_ALIASES } from "@weelo/gateway";
import { bearer, startTestSystem, uniquePhone, type TestSystem } from "./test-support.js";

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
const RUNS = Number(process.env.FUZZ_RUNS ?? 8);
console.log(`fuzz: seed ${SEED} (FUZZ_SEED=${SEED} reproduces), ${RUNS} runs per method and encoding`);
const params = (offset: number) => ({ seed: SEED + offset, numRuns: RUNS, endOnFailure: true });

/** Strings that have broken parsers and validators before. */
const nastyString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.string({ unit: "binary", maxLength: 20 }),
  fc.constantFrom(
    "",
    " ",
    "\u0000",
    "a\u202Eb",
    "\u200B",
    "\uFEFF",
    "\uD800",
    "%00",
    "' OR 1=1 --",
    "../../etc/passwd",
    "x".repeat(5000),
    "NaN",
    "Infinity",
    "-0",
    "9007199254740993",
    "18446744073709551616",
    "1e400",
    "true",
    "null",
    "{}",
    "[]",
    "0190c6f6-0000-7000-8000-000000000000",
  ),
  fc.uuid().map(String),
);
const nastyNumber = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(
    0,
    -1,
    2 ** 31,
    -(2 ** 31) - 1,
    2 ** 32,
    2 ** 53,
    2 ** 53 + 2,
    -(2 ** 53) - 2,
    2 ** 64,
    1e308,
    -1e308,
    5e-324,
  ),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map((n) => n.toString()),
);
const nastyScalar: fc.Arbitrary<unknown> = fc.oneof(nastyString, nastyNumber, fc.boolean(), fc.constant(null));
/** Any JSON, including deep nesting. */
const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  { depthSize: "small" },
  fc.jsonValue({ maxDepth: 4 }),
  nastyScalar,
  fc.integer({ min: 50, max: 400 }).map((depth) => {
    let value: unknown = "deep";
    for (let i = 0; i < depth; i++) value = i % 2 ? [value] : { nested: value };
    return value;
  }),
);

/** A value for a field: mostly of the right JSON type (to reach the services' rules), sometimes anything. */
function fieldValue(field: DescField, depth: number): fc.Arbitrary<unknown> {
  const typed = (): fc.Arbitrary<unknown> => {
    switch (field.fieldKind) {
      case "scalar":
        return field.scalar === 9 /* string */
          ? nastyString
          : field.scalar === 8 /* bool */
            ? fc.boolean()
            : field.scalar === 12 /* bytes */
              ? fc.base64String()
              : nastyNumber;
      case "enum":
        return fc.oneof(
          fc.constantFrom(...field.enum.values.map((v) => v.name)),
          fc.integer({ min: -5, max: 50 }),
          nastyString,
        );
      case "message":
        if (field.message.typeName === "google.protobuf.Timestamp")
          return fc.oneof(
            fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
            nastyString,
          );
        return depth > 3 ? fc.constant({}) : messageJson(field.message, depth + 1);
      case "list": {
        const element = { ...field, fieldKind: field.listKind } as unknown as DescField;
        return fc.array(fieldValue(element, depth + 1), { maxLength: 4 });
      }
      case "map":
        return fc.dictionary(fc.string({ maxLength: 8 }), nastyScalar, { maxKeys: 3 });
    }
  };
  return fc.oneof({ weight: 4, arbitrary: typed() }, { weight: 1, arbitrary: anyJson });
}

/** A JSON body for a message: some of its fields, maybe unknown ones. */
function messageJson(message: DescMessage, depth = 0): fc.Arbitrary<Record<string, unknown>> {
  const fields: Record<string, fc.Arbitrary<unknown>> = {};
  for (const field of message.fields) fields[field.jsonName] = fieldValue(field, depth);
  return fc
    .tuple(
      fc.record(fields, { requiredKeys: [] }),
      fc.dictionary(fc.string({ maxLength: 10 }), anyJson, { maxKeys: 2 }),
    )
    .map(([known, unknown]) => ({ ...unknown, ...known }));
}

describe("fuzzing the public surface", { timeout: 240_000 }, () => {
  let system: TestSystem;
  let tokens: Record<string, string>;

  before(async () => {
    system = await startTestSystem({ RATE_LIMIT_ENABLED: "false", OTP_RESEND_COOLDOWN_S: "0" });
    const customer = await system.login("customer");
    const transporter = await system.login("transporter");
    const phone = uniquePhone();
    const added = await system.connect(
      "/weelo.fleet.v1.DriverService/AddDriver",
      { idempotencyKey: randomUUID(), name: "Fuzz Driver", phone, licenceNumber: "MH12 20170012345" },
      bearer(transporter.accessToken),
    );
    assert.equal(added.status, 200, JSON.stringify(added.body));
    const driver = await system.login("driver", phone);
    tokens = { customer: customer.accessToken, transporter: transporter.accessToken, driver: driver.accessToken };
  });
  after(async () => {
    await system?.stop();
  });

  const authHeader = fc.constantFrom<(string | undefined)[]>(undefined, "customer", "transporter", "driver", "garbage");
  const headersOf = (who: string | undefined): Record<string, string> =>
    who === undefined ? {} : who === "garbage" ? { authorization: "Bearer not-a-token" } : bearer(tokens[who]!);

  /**
   * Sends one request and checks the answer: never 5xx (a stream's end-of-stream error never
   * internal/unknown). A stream that stays open past a short wait is a valid call: fine.
   */
  async function check(
    label: string,
    path: string,
    init: { method?: string; contentType?: string; body?: Uint8Array | string; who?: string; stream?: boolean },
  ): Promise<boolean> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), init.stream ? 300 : 10_000);
    try {
      const response = await fetch(`${system.url}${path}`, {
        method: init.method ?? "POST",
        headers: { ...(init.contentType ? { "content-type": init.contentType } : {}), ...headersOf(init.who) },
        ...(init.body === undefined ? {} : { body: init.body }),
        signal: controller.signal,
      });
      const bytes = Buffer.from(await response.arrayBuffer());
      const text = bytes.toString("utf8");
      const streamError =
        /"code":"(internal|unknown|unimplemented|data_loss)"/.test(text) || /grpc-status: ?(2|12|13|15)\r/.test(text);
      // Thrown, so fast-check prints what was answered beside the seed and the counterexample.
      assert.ok(
        response.status < 500 && !streamError,
        `${label} ${init.method ?? "POST"} ${path} (${init.contentType}, ${init.who ?? "no token"}) → ${response.status} ${text.slice(0, 300)}`,
      );
      return true;
    } catch (error) {
      if (controller.signal.aborted) return true; // an open stream: the input was valid
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  const envelope = (data: Uint8Array) => {
    const out = Buffer.alloc(5 + data.length);
    out.writeUInt32BE(data.length, 1);
    out.set(data, 5);
    return out;
  };

  const methods: { path: string; method: DescMethod }[] = PUBLIC_SERVICES.flatMap(({ service }) =>
    service.methods.map((method) => ({ path: `/${service.typeName}/${method.name}`, method })),
  );

  it("answers every public RPC's generated Connect JSON with a 4xx or 2xx, never a 5xx", async () => {
    let offset = 0;
    for (const { path, method } of methods) {
      const stream = method.methodKind !== "unary";
      await fc.assert(
        fc.asyncProperty(messageJson(method.input), authHeader, async (body, who) => {
          const json = JSON.stringify(body);
          return stream
            ? check("connect+json", path, {
                contentType: "application/connect+json",
                body: envelope(Buffer.from(json)),
                who,
                stream,
              })
            : check("json", path, { contentType: "application/json", body: json, who });
        }),
        params(offset++),
      );
    }
  });

  it("answers every public RPC's garbage bytes, wrong JSON and wrong content types with a 4xx, never a 5xx", async () => {
    let offset = 1000;
    const contentTypes = [
      "application/proto",
      "application/json",
      "application/connect+proto",
      "application/grpc-web+proto",
      "text/plain",
      "application/x-www-form-urlencoded",
      "",
      "application/json; charset=utf-16",
    ];
    for (const { path, method } of methods) {
      const stream = method.methodKind !== "unary";
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.uint8Array({ maxLength: 200 }),
            anyJson.map((v) => Buffer.from(JSON.stringify(v) ?? "null")),
          ),
          fc.constantFrom(...contentTypes),
          fc.boolean(),
          authHeader,
          async (bytes, contentType, enveloped, who) =>
            check("bytes", path, {
              contentType,
              body: enveloped || contentType.includes("+") ? envelope(bytes) : bytes,
              who,
              stream,
            }),
        ),
        params(offset++),
      );
    }
  });

  it("answers every REST alias's generated paths, queries and bodies with a 4xx or 2xx, never a 5xx", async () => {
    let offset = 2000;
    // Encoded by the client (lone surrogates as U+FFFD, which encodeURIComponent cannot take), or raw percent-encoding that is no UTF-8.
    const wellFormed = (s: string) => Buffer.from(s, "utf8").toString("utf8");
    const pathParam = fc.oneof(
      fc.uuid().map(String).map(encodeURIComponent),
      nastyString.filter((s) => s.length > 0).map((s) => encodeURIComponent(wellFormed(s))),
      fc.constantFrom("%FF", "%E0%A4", "%ED%A0%80", "%", "%zz", "%00", "..", "%2F"),
    );
    for (const alias of REST_ALIASES) {
      const names = [...alias.path.matchAll(/:(\w+)/g)].map((m) => m[1]!);
      await fc.assert(
        fc.asyncProperty(
          fc.array(pathParam, { minLength: names.length, maxLength: names.length }),
          messageJson(alias.rpc.input),
          fc.oneof(fc.constant("json"), fc.constant("raw")),
          fc.uint8Array({ maxLength: 100 }),
          authHeader,
          async (values, body, kind, raw, who) => {
            let i = 0;
            const path = alias.path.replace(/:(\w+)/g, () => values[i++]!);
            if (alias.method === "GET" || alias.method === "DELETE") {
              const query = new URLSearchParams(
                Object.entries(body).map(([k, v]): [string, string] => [
                  k,
                  typeof v === "string" ? v : (JSON.stringify(v) ?? ""),
                ]),
              );
              return check("rest", `${path}?${query}`, { method: alias.method, who });
            }
            return check("rest", path, {
              method: alias.method,
              contentType: "application/json",
              body: kind === "json" ? JSON.stringify(body) : raw,
              who,
            });
          },
        ),
        params(offset++),
      );
    }
  });

  it("still answers /health afterwards", async () => {
    const health = await fetch(`${system.url}/health`);
    assert.equal(health.status, 200);
  });
});
