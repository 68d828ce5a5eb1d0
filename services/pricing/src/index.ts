export { startPricing, type PricingModuleOptions } from "./pricing.module.js";
export {
  loadPricingConfig,
  pricingConfigSchema,
  pricingProductionRules,
  pricingRules,
  DEV_QUOTE_SIGNING_SECRET,
  type PricingConfig,
} from "./pricing.config.js";
export { signQuoteToken, verifyQuoteToken, type QuoteClaims, type VerifyQuoteOptions } from "./quote-token.js";
export type { PricingService } from "./pricing.service.js";
export type { FareBreakdown } from "./pricing.rules.js";
export type { SurgeInputs, SurgeCounts } from "./surge/surge-inputs.js";
/** Its schema migrations, for the migrate one-shot (system/src/migrate.ts). */
export { pricingMigrations } from "./migrations/index.js";
