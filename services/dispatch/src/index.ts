export { startDispatch, type DispatchModule, type DispatchModuleOptions } from "./dispatch.module.js";
export {
  loadDispatchConfig,
  dispatchConfigSchema,
  dispatchAloneRules,
  type DispatchConfig,
} from "./dispatch.config.js";
export {
  WAVE_SENT_EVENT,
  OFFER_CREATED_EVENT,
  OFFER_WITHDRAWN_EVENT,
  OFFER_ACCEPTED_EVENT,
  streamSubjects,
  liveSubject,
} from "./dispatch.events.js";
export type { DispatchService } from "./dispatch.service.js";
/** Its schema migrations, for the migrate one-shot (system/src/migrate.ts). */
export { dispatchMigrations } from "./migrations/index.js";
