/**
 * The one place the SDK's tests get a running system from (the system package's end-to-end test support: the
 * whole system in this process, on its own schema, key prefix and streams). If the system
 * starter moves, only this import changes.
 */
export { startTestSystem, uniquePhone, type TestSystem } from "../../../system/src/e2e/test-support.js";
