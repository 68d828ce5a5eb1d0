/**
 * The API reference's generator and files, for the generator script and the system's docs suites.
 * A subpath of its own: the generator reads proto comments with @bufbuild/protoplugin, a
 * development tool the gateway process never loads (it serves the committed document).
 */
export { DOCS_CSP } from "./docs-handler.js";
export { buildOpenApiDocument } from "./openapi.js";
export { OPENAPI_FILE } from "./openapi-file.js";
