import { fileURLToPath } from "node:url";

/** The committed OpenAPI document: written by `npm run docs:openapi`, served at /docs/openapi.json. */
export const OPENAPI_FILE = fileURLToPath(new URL("./weelo.openapi.json", import.meta.url));
