/**
 * The OpenAPI 3.1 document of the gateway, built from the gateway's own route tables (the
 * public services it forwards, the REST aliases, the token-free methods) and the contracts'
 * descriptors with their comments. The committed weelo.openapi.json is this function's output
 * (`npm run docs:openapi`); a test fails when the two differ, so the document cannot drift
 * from the router.
 */
import { createFileRegistry, fromBinary, type DescMethod, type FileRegistry } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { descriptorSetBase64 } from "@weelo/contracts/descriptor-set";
import { REST_ALIASES, type RestAlias } from "../rest/aliases.js";
import { isPublicMethod, PUBLIC_SERVICES } from "../upstreams.js";
import { connectErrorResponses, errorComponents, errorResponseComponents, restErrorResponses } from "./error-shapes.js";
import { exampleOf } from "./examples.js";
import { commentOf, scalarSchema, SchemaCollector, type JsonSchema } from "./schemas.js";

type Operation = Record<string, unknown>;

const DESCRIPTION = `The public API of Weelo, served on one port by the gateway.

- **REST aliases** (\`/api/v1/…\`): JSON in, and the envelope \`{"success": true, "data": …}\` or \`{"success": false, "error": {"code", "message"}}\` out.
- **Connect** (\`/<package>.<Service>/<Method>\`): POST the request message as protobuf JSON (\`application/json\`), or binary (\`application/proto\`); gRPC and gRPC-Web clients use the same paths. Streaming methods need a Connect, gRPC or gRPC-Web client (enveloped messages).

**Authentication**: log in with \`SendOtp\` then \`VerifyOtp\`; send the access token as \`Authorization: Bearer <token>\`. Operations without a lock need no token.

**Errors** carry a stable \`reason\` (REST: \`error.code\`; Connect: the \`google.rpc.ErrorInfo\` in \`details\`): react to it, not to the message text. The schema \`weelo.ErrorReason\` lists every reason with its code and meaning; each error response names the reasons answered with its status. Field limits (minimum, maximum, lengths) are the contracts' validation rules: a request outside them is refused with \`INVALID_ARGUMENT\` naming every wrong field.

64-bit integers travel as strings; enums by value name.`;

export function buildOpenApiDocument(): Record<string, unknown> {
  const registry = contractRegistry();
  const schemas = new SchemaCollector(registry);
  const paths: Record<string, Record<string, Operation>> = {};
  const described = (typeName: string, name: string) => {
    const method = registry.getService(typeName)?.methods.find((m) => m.name === name);
    if (!method) throw new Error(`${typeName}/${name} is not in the descriptor set`);
    return method;
  };

  for (const alias of REST_ALIASES) {
    const path = alias.path.replace(/:([A-Za-z]+)/g, "{$1}");
    paths[path] ??= {};
    paths[path][alias.method.toLowerCase()] = restOperation(
      alias,
      described(alias.service.typeName, alias.rpc.name),
      schemas,
    );
  }
  for (const { service } of PUBLIC_SERVICES) {
    for (const rpc of service.methods) {
      paths[`/${service.typeName}/${rpc.name}`] = {
        post: connectOperation(described(service.typeName, rpc.name), schemas),
      };
    }
  }

  return {
    openapi: "3.1.0",
    info: {
      title: "Weelo API",
      version: "v1",
      description: DESCRIPTION,
    },
    servers: [{ url: "/", description: "This gateway" }],
    tags: PUBLIC_SERVICES.map(({ service }) => {
      const desc = registry.getService(service.typeName)!;
      return { name: desc.name, description: `${commentOf(desc) ?? desc.name}\n\n\`${desc.typeName}\`` };
    }),
    paths: Object.fromEntries(Object.entries(paths).sort(([a], [b]) => a.localeCompare(b))),
    components: {
      securitySchemes: {
        bearer: {
          type: "http",
          scheme: "bearer",
          bearerFormat: "JWT",
          description: "The access token from VerifyOtp or RefreshToken (`tokens.accessToken`).",
        },
      },
      schemas: { ...sortedByKey(schemas.components), ...errorComponents() },
      responses: errorResponseComponents(),
    },
  };
}

function restOperation(alias: RestAlias, rpc: DescMethod, schemas: SchemaCollector): Operation {
  const pathParams = [...alias.path.matchAll(/:([A-Za-z]+)/g)].map((m) => m[1]!);
  const fieldOf = (param: string) => alias.params?.[param] ?? param;
  const parameters: Record<string, unknown>[] = pathParams.map((param) => {
    const field = rpc.input.fields.find((f) => f.jsonName === fieldOf(param));
    return {
      name: param,
      in: "path",
      required: true,
      description: (field && commentOf(field)) ?? `The ${fieldOf(param)} of the request.`,
      schema: { type: "string" },
    };
  });
  const bodyless = alias.method === "GET" || alias.method === "DELETE";
  if (bodyless) {
    const inPath = new Set(pathParams.map(fieldOf));
    for (const field of rpc.input.fields) {
      if (inPath.has(field.jsonName) || (field.fieldKind !== "scalar" && field.fieldKind !== "enum")) continue;
      const schema = field.fieldKind === "enum" ? schemas.enum(field.enum) : scalarSchema(field.scalar);
      parameters.push({ name: field.jsonName, in: "query", required: false, description: commentOf(field), schema });
    }
  }
  const status = String(alias.successStatus ?? 200);
  const operation: Operation = {
    operationId: `${rpc.parent.name}.${rpc.name}.rest`,
    tags: [rpc.parent.name],
    summary: summaryOf(rpc),
    description: `${commentOf(rpc) ?? ""}\n\nREST alias of \`${rpc.parent.typeName}/${rpc.name}\`.`.trim(),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(bodyless ? {} : { requestBody: jsonBody(schemas.message(rpc.input), exampleOf(rpc.input.typeName)) }),
    responses: {
      [status]: {
        description: `Done: the envelope with the ${rpc.output.name}.`,
        content: {
          "application/json": {
            schema: {
              type: "object",
              properties: { success: { const: true }, data: schemas.message(rpc.output) },
              required: ["success", "data"],
            },
          },
        },
      },
      ...restErrorResponses(),
    },
  };
  return withSecurity(operation, rpc);
}

function connectOperation(rpc: DescMethod, schemas: SchemaCollector): Operation {
  const streaming = rpc.methodKind !== "unary";
  const contentType = streaming ? "application/connect+json" : "application/json";
  const kind = rpc.methodKind.replace("_", " ");
  const operation: Operation = {
    operationId: `${rpc.parent.name}.${rpc.name}`,
    tags: [rpc.parent.name],
    summary: summaryOf(rpc),
    description: [
      commentOf(rpc),
      `Connect ${streaming ? `${kind} ` : ""}call of \`${rpc.parent.typeName}/${rpc.name}\`${
        streaming
          ? `: each message is enveloped (a flag byte and a 4-byte length), so use a Connect, gRPC or gRPC-Web client${
              rpc.methodKind === "bidi_streaming" ? ", over HTTP/2" : ""
            }`
          : ""
      }.`,
    ]
      .filter(Boolean)
      .join("\n\n"),
    requestBody: {
      required: true,
      content: { [contentType]: withExample({ schema: schemas.message(rpc.input) }, exampleOf(rpc.input.typeName)) },
    },
    responses: {
      "200": {
        description: streaming ? `A stream of ${rpc.output.name} messages.` : `The ${rpc.output.name}.`,
        content: { [contentType]: { schema: schemas.message(rpc.output) } },
      },
      ...connectErrorResponses(),
    },
  };
  return withSecurity(operation, rpc);
}

function withSecurity(operation: Operation, rpc: DescMethod): Operation {
  // Token-free methods say so with an empty requirement; the rest need the bearer token.
  operation.security = isPublicMethod(rpc.parent.typeName, rpc.name) ? [] : [{ bearer: [] }];
  return operation;
}

function jsonBody(schema: JsonSchema, example: unknown): Record<string, unknown> {
  return { required: true, content: { "application/json": withExample({ schema }, example) } };
}

function withExample(media: Record<string, unknown>, example: unknown): Record<string, unknown> {
  return example === undefined ? media : { ...media, example };
}

/** The first sentence of the method's comment, cut at a word near 90 characters: the line shown in the list. */
function summaryOf(rpc: DescMethod): string {
  const comment = commentOf(rpc);
  if (!comment) return rpc.name;
  const sentence = comment.split(/(?<=[.;:])\s|\n/)[0]!.replace(/[.;:,]$/, "");
  if (sentence.length <= 90) return sentence;
  return `${sentence.slice(0, 90).replace(/[\s,;:]+\S*$/, "")}…`;
}

function sortedByKey<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)));
}

/** The contracts with their comments (the generated descriptors of the gateway carry none). */
export function contractRegistry(): FileRegistry {
  return createFileRegistry(fromBinary(FileDescriptorSetSchema, Buffer.from(descriptorSetBase64, "base64")));
}
