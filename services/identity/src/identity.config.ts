/** Identity's settings, on top of the settings every process shares. */
import { baseConfigSchema, envInt, envOptional, loadConfig, natsName, z, type ProductionRule } from "@weelo/config";
import { normalizeIndianPhone } from "@weelo/formats";

export const DEV_OTP_SECRET = "development-only-otp-secret-change-me";

/**
 * The operations phone of a development system (OPS_PHONES unset, NODE_ENV not production), so
 * `npm start` and /console work out of the box: log in with role ops and this number.
 */
export const DEV_OPS_PHONE = "+919000000099";

/**
 * OPS_PHONES: comma-separated phones allowed to log in with role ops, in any accepted form,
 * kept in E.164. Unset stays undefined (the development default applies outside production,
 * see opsPhonesOf); set but empty means nobody.
 */
const opsPhonesSetting = z
  .string()
  .optional()
  .transform((value, ctx) => {
    if (value === undefined) return undefined;
    const phones = new Set<string>();
    for (const entry of value.split(",").map((part) => part.trim())) {
      if (entry === "") continue;
      try {
        phones.add(normalizeIndianPhone(entry));
      } catch {
        ctx.addIssue({ code: "custom", message: `"${entry}" is not an Indian mobile number like +919876543210` });
        return z.NEVER;
      }
    }
    return [...phones];
  });

export const identityConfigSchema = baseConfigSchema.extend({
  /** How long an OTP is accepted (seconds). */
  OTP_TTL_S: envInt(300, 1, 3600),
  /** Wrong tries before the OTP is burned. */
  OTP_MAX_ATTEMPTS: envInt(5, 1, 20),
  /** Seconds between two OTPs to the same phone and role. */
  OTP_RESEND_COOLDOWN_S: envInt(30, 0, 3600),
  /** OTPs one phone may receive per hour. */
  OTP_PER_PHONE_PER_HOUR: envInt(5, 1, 1000),
  /** OTPs one client IP may request per hour (carrier NAT puts many phones behind one IP). */
  OTP_PER_IP_PER_HOUR: envInt(30, 1, 100_000),
  /** Key of the HMAC under which OTPs are stored; at least 32 characters in production. */
  OTP_HASH_SECRET: z.string().min(16).default(DEV_OTP_SECRET),
  /** console (development: the OTP goes to the log) or msg91. */
  SMS_PROVIDER: z.enum(["console", "msg91"]).default("console"),
  MSG91_BASE_URL: z.url().default("https://control.msg91.com"),
  MSG91_AUTH_KEY: envOptional(),
  MSG91_TEMPLATE_ID: envOptional(),
  /** Give up on one SMS provider call after this long. */
  SMS_TIMEOUT_MS: envInt(5000, 100, 60_000),
  /** PKCS#8 PEM of the Ed25519 key that signs tokens. */
  JWT_PRIVATE_KEY: envOptional(),
  /** Key id of JWT_PRIVATE_KEY, as listed in JWT_PUBLIC_JWKS. */
  JWT_KEY_ID: envOptional(),
  /** Lifetime of a refresh token, in seconds (7 days). */
  REFRESH_TOKEN_TTL_S: envInt(7 * 24 * 3600, 300, 90 * 24 * 3600),
  /** Where the fleet service answers gRPC (the driver-login rule); unset in development means any phone may log in as a driver. */
  FLEET_GRPC_URL: envOptional(),
  /** Fleet's event stream, where identity reads driver removals (to revoke the driver's sessions); tests use a unique one. */
  FLEET_STREAM: natsName("stream names").default("FLEET"),
  /** First token of fleet's event subjects. */
  FLEET_SUBJECT_ROOT: natsName("subject tokens").default("fleet"),
  /** Durable consumer name of identity on fleet's stream; replicas share it. */
  IDENTITY_FLEET_CONSUMER: natsName("consumer names").default("identity"),
  /** Push devices kept per user; older ones are dropped. */
  MAX_DEVICES_PER_USER: envInt(10, 1, 100),
  /** Phones that may log in with role ops (the operations console), comma-separated; empty means nobody; unset means nobody in production and DEV_OPS_PHONE otherwise. */
  OPS_PHONES: opsPhonesSetting,
});

export type IdentityConfig = z.infer<typeof identityConfigSchema>;

export const identityProductionRules: ProductionRule<IdentityConfig>[] = [
  (c) =>
    c.SMS_PROVIDER === "console" ? "SMS_PROVIDER=console shows OTPs in the log; production needs msg91" : undefined,
  (c) =>
    c.OTP_HASH_SECRET === DEV_OTP_SECRET || c.OTP_HASH_SECRET.length < 32
      ? "OTP_HASH_SECRET must be set to a secret of at least 32 characters in production"
      : undefined,
  (c) => (!c.JWT_PRIVATE_KEY || !c.JWT_KEY_ID ? "JWT_PRIVATE_KEY and JWT_KEY_ID must be set in production" : undefined),
  (c) =>
    c.OPS_PHONES?.includes(DEV_OPS_PHONE)
      ? `OPS_PHONES lists the development operations phone ${DEV_OPS_PHONE}; list the operations team's own phones`
      : undefined,
];

/** The phones allowed to log in with role ops: OPS_PHONES, or when unset DEV_OPS_PHONE outside production (nobody in production). */
export function opsPhonesOf(config: Pick<IdentityConfig, "OPS_PHONES" | "NODE_ENV">): readonly string[] {
  if (config.OPS_PHONES !== undefined) return config.OPS_PHONES;
  return config.NODE_ENV === "production" ? [] : [DEV_OPS_PHONE];
}

/** Identity running alone must reach fleet for the driver-login rule (all-in-one wires it in process). */
export const identityStandaloneProductionRules: ProductionRule<IdentityConfig>[] = [
  (c) =>
    !c.FLEET_GRPC_URL
      ? "FLEET_GRPC_URL must be set in production: drivers log in only with phones a transporter registered"
      : undefined,
];

/** Configuration problems that would fail on the first SMS rather than at start. */
export const identityRules: ProductionRule<IdentityConfig>[] = [
  (c) =>
    c.SMS_PROVIDER === "msg91" && (!c.MSG91_AUTH_KEY || !c.MSG91_TEMPLATE_ID)
      ? "SMS_PROVIDER=msg91 needs MSG91_AUTH_KEY and MSG91_TEMPLATE_ID"
      : undefined,
];

export function loadIdentityConfig(env: Record<string, string | undefined> = process.env): Readonly<IdentityConfig> {
  return loadConfig(
    identityConfigSchema,
    env,
    [...identityProductionRules, ...identityStandaloneProductionRules],
    identityRules,
  );
}
