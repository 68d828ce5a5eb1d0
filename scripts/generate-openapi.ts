/**
 * Writes the gateway's OpenAPI 3.1 document (gateway/src/docs/weelo.openapi.json) from its route
 * tables and the contracts' descriptors: `npm run docs:openapi` after changing a route, a public
 * service or a proto comment. system/src/e2e/docs.test.ts fails while the file is stale.
 */
import { writeFileSync } from "node:fs";
import { buildOpenApiDocument } from "../gateway/src/docs/openapi.js";
import { OPENAPI_FILE } from "../gateway/src/docs/openapi-file.js";

writeFileSync(OPENAPI_FILE, `${JSON.stringify(buildOpenApiDocument(), null, 2)}\n`);
console.log(`wrote ${OPENAPI_FILE}`);
