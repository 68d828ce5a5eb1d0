/** Protobuf enums ⇄ the words the domain (and the REST aliases) use. UNSPECIFIED is refused. */
import type { Role } from "@weelo/auth";
import { Language, Role as ProtoRole } from "@weelo/contracts/grpc/weelo/common/v1/common";
import { InvalidArgumentError } from "@weelo/errors";

const ROLE_BY_PROTO: Partial<Record<ProtoRole, Role>> = {
  [ProtoRole.ROLE_CUSTOMER]: "customer",
  [ProtoRole.ROLE_TRANSPORTER]: "transporter",
  [ProtoRole.ROLE_DRIVER]: "driver",
  [ProtoRole.ROLE_OPS]: "ops",
};

export function roleFromProto(role: ProtoRole, field = "role"): Role {
  const word = ROLE_BY_PROTO[role];
  if (!word)
    throw new InvalidArgumentError(field, `${field} must be ROLE_CUSTOMER, ROLE_TRANSPORTER, ROLE_DRIVER or ROLE_OPS`);
  return word;
}

export function roleToProto(role: string): ProtoRole {
  const entry = Object.entries(ROLE_BY_PROTO).find(([, word]) => word === role);
  return entry ? (Number(entry[0]) as ProtoRole) : ProtoRole.ROLE_UNSPECIFIED;
}

export type LanguageCode = "en" | "hi";

export function languageFromProto(language: Language, field = "language"): LanguageCode {
  if (language === Language.LANGUAGE_ENGLISH) return "en";
  if (language === Language.LANGUAGE_HINDI) return "hi";
  throw new InvalidArgumentError(field, `${field} must be LANGUAGE_ENGLISH or LANGUAGE_HINDI`);
}

export function languageToProto(language: string): Language {
  return language === "hi" ? Language.LANGUAGE_HINDI : Language.LANGUAGE_ENGLISH;
}
