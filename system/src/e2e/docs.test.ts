/**
 * The API reference: the committed OpenAPI document is current, valid OpenAPI 3.1, lists
 * exactly the routes the gateway serves, and describes the answers a running gateway really
 * gives (successes and both error shapes); /docs serves the page and the document from this
 * origin under its CSP.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { createConnectRouter } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { REFLECTION_SERVICES, reflectionRoutes } from "@weelo/grpc";
import { Validator } from "@seriousme/openapi-schema-validator";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { Forwarder, PUBLIC_SERVICES, REST_ALIASES, type UpstreamName } from "@weelo/gateway";
import { buildOpenApiDocument, DOCS_CSP, OPENAPI_FILE } from "@weelo/gateway/docs";
import { startTestSystem, uniquePhone, type TestSystem } from "./test-support.js";

const committed: any = JSON.parse(readFileSync(OPENAPI_FILE, "utf8"));
const HTTP_METHODS = ["get", "put", "post", "delete", "patch", "head", "options"];

/** "METHOD /path" of every operation in the document. */
function documentedRoutes(): string[] {
  return Object.entries(committed.paths as Record<string, Record<string, unknown>>)
    .flatMap(([path, item]) =>
      Object.keys(item)
        .filter((key) => HTTP_METHODS.includes(key))
        .map((method) => `${method.toUpperCase()} ${path}`),
    )
    .sort();
}

/** A validator of instances against the document's own schemas (JSON Schema 2020-12, as OpenAPI 3.1). */
function schemaValidator() {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats.default(ajv);
  for (const format of ["int32", "int64", "uint64", "float", "double"]) ajv.addFormat(format, true);
  ajv.addSchema({ $id: "weelo.openapi", components: committed.components });
  return (pointer: string, value: unknown) => {
    const validate = ajv.getSchema(`weelo.openapi#${pointer}`);
    assert.ok(validate, `no schema at ${pointer}`);
    const valid = validate(value);
    assert.ok(valid, `${JSON.stringify(value)} does not fit ${pointer}: ${ajv.errorsText(validate.errors)}`);
  };
}

describe("the OpenAPI document", () => {
  it("is the one the gateway's route tables and the contracts make (run `npm run docs:openapi` if not)", () => {
    assert.deepEqual(committed, JSON.parse(JSON.stringify(buildOpenApiDocument())));
  });

  it("is valid OpenAPI 3.1, every $ref resolving", async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(committed));
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
    assert.equal(validator.version, "3.1");
    // Every internal reference points at something (resolveRefs throws on a dangling one).
    assert.ok(validator.resolveRefs());
  });

  it("lists exactly the routes of the router: every Connect procedure and every REST alias", () => {
    // The Connect routes as the gateway registers them, on a router of our own (no call is made).
    const router = createConnectRouter();
    const nowhere = Object.fromEntries(PUBLIC_SERVICES.map(({ upstream }) => [upstream, "127.0.0.1:9"])) as Record<
      UpstreamName,
      string
    >;
    const forwarder = new Forwarder(PUBLIC_SERVICES, nowhere, 1000, () => grpc.credentials.createInsecure());
    forwarder.register(router, PUBLIC_SERVICES);
    forwarder.close();
    reflectionRoutes(
      router,
      PUBLIC_SERVICES.map(({ service }) => service.typeName),
    );
    // Server reflection is for tools (grpcurl, buf curl: bidirectional streams), not the API: left out.
    const api = router.handlers.filter((handler) => !REFLECTION_SERVICES.includes(handler.service.typeName as never));
    assert.equal(router.handlers.length - api.length, REFLECTION_SERVICES.length);
    const served = [
      ...api.map((handler) => `POST ${handler.requestPath}`),
      ...REST_ALIASES.map((alias) => `${alias.method} ${alias.path.replace(/:([A-Za-z]+)/g, "{$1}")}`),
    ].sort();
    assert.ok(served.length > 50, `${served.length} routes`);
    assert.deepEqual(documentedRoutes(), served);
  });

  it("shows request examples that keep the documented field rules", () => {
    const fits = schemaValidator();
    let examples = 0;
    for (const item of Object.values(committed.paths as Record<string, Record<string, any>>)) {
      for (const operation of Object.values(item)) {
        for (const media of Object.values((operation.requestBody?.content ?? {}) as Record<string, any>)) {
          if (media.example === undefined || !media.schema.$ref) continue;
          fits(media.schema.$ref.slice(1), media.example);
          examples++;
        }
      }
    }
    assert.ok(examples >= 7, `${examples} examples`);
  });

  it("asks for the bearer token exactly where the gateway does", () => {
    const locked = (path: string) => committed.paths[path].post.security.length > 0;
    assert.equal(locked("/weelo.identity.v1.AuthService/SendOtp"), false);
    assert.equal(locked("/api/v1/auth/send-otp"), false);
    assert.equal(locked("/weelo.booking.v1.BookingService/CreateBooking"), true);
    assert.equal(locked("/api/v1/bookings"), true);
    assert.deepEqual(committed.components.securitySchemes.bearer, {
      type: "http",
      scheme: "bearer",
      bearerFormat: "JWT",
      description: committed.components.securitySchemes.bearer.description,
    });
  });
});

describe("the document against a running gateway", () => {
  let system: TestSystem;
  const fits = schemaValidator();
  before(async () => {
    system = await startTestSystem();
  });
  after(async () => {
    await system?.stop();
  });

  it("describes real answers: REST and Connect successes, and both error shapes with their reason", async () => {
    const phone = uniquePhone();
    const sent = await system.rest("POST", "/api/v1/auth/send-otp", { phone, role: "ROLE_CUSTOMER" });
    assert.equal(sent.status, 200);
    fits("/components/schemas/weelo.identity.v1.SendOtpResponse", sent.body.data);
    const okSchema = committed.paths["/api/v1/auth/send-otp"].post.responses["200"].content["application/json"].schema;
    assert.deepEqual(okSchema.properties.data, { $ref: "#/components/schemas/weelo.identity.v1.SendOtpResponse" });

    const types = await system.connect("/weelo.pricing.v1.PricingService/ListVehicleTypes", {});
    assert.equal(types.status, 200);
    fits("/components/schemas/weelo.pricing.v1.ListVehicleTypesResponse", types.body);

    const restBad = await system.rest("POST", "/api/v1/auth/send-otp", { phone: "12", role: "ROLE_CUSTOMER" });
    assert.equal(restBad.status, 400);
    fits("/components/schemas/weelo.RestError", restBad.body);
    assert.equal(restBad.body.error.code, "PHONE_INVALID");

    const restLocked = await system.rest("GET", "/api/v1/bookings");
    assert.equal(restLocked.status, 401);
    fits("/components/schemas/weelo.RestError", restLocked.body);
    assert.ok(committed.paths["/api/v1/bookings"].get.responses["401"]);

    const connectBad = await system.connect("/weelo.identity.v1.AuthService/SendOtp", {
      phone: "12",
      role: "ROLE_CUSTOMER",
    });
    assert.equal(connectBad.status, 400);
    fits("/components/schemas/weelo.ConnectError", connectBad.body);
    assert.equal(connectBad.body.code, "invalid_argument");
    assert.ok(
      connectBad.body.details.some((d: { type: string }) => d.type === "google.rpc.ErrorInfo"),
      "the reason rides in the details",
    );
  });

  it("serves the reference page, its assets and the document from this origin, under the CSP", async () => {
    const redirect = await fetch(`${system.url}/docs`, { redirect: "manual" });
    assert.equal(redirect.status, 308);
    assert.equal(redirect.headers.get("location"), "/docs/");

    const page = await fetch(`${system.url}/docs/`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get("content-security-policy"), DOCS_CSP);
    const html = await page.text();
    assert.doesNotMatch(html, /https?:\/\//, "no external URL in the page");
    const assets = [...html.matchAll(/(?:href|src)="([^"]+)"/g)].map((m) => m[1]!);
    assert.ok(assets.includes("/docs/swagger-ui-bundle.js") && assets.includes("/docs/init.js"));
    for (const asset of [...assets, "/docs/openapi.json"]) {
      const answer = await fetch(`${system.url}${asset}`);
      assert.equal(answer.status, 200, asset);
      assert.equal(answer.headers.get("content-security-policy"), DOCS_CSP, asset);
      await answer.arrayBuffer();
    }

    const document = await fetch(`${system.url}/docs/openapi.json`, { headers: { "accept-encoding": "gzip" } });
    assert.equal(document.headers.get("content-encoding"), "gzip");
    assert.deepEqual(await document.json(), committed);

    assert.equal((await fetch(`${system.url}/docs/nothing-here.js`)).status, 404);
    const post = await fetch(`${system.url}/docs/openapi.json`, { method: "POST", body: "{}" });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET, HEAD");
  });
});
