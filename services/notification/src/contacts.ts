/** How notification learns to reach a user: identity's internal ContactDirectoryService. */
import type { ContactDirectoryServiceService } from "@weelo/contracts/grpc/weelo/identity/v1/contact_directory_service";
import { Language } from "@weelo/contracts/grpc/weelo/common/v1/common";
import { DomainError, GrpcCode } from "@weelo/errors";
import type { ServiceClient } from "@weelo/grpc";

export interface Contact {
  userId: string;
  /** E.164. */
  phone: string;
  language: "en" | "hi";
  pushTokens: string[];
}

export interface ContactDirectory {
  /** The user's contact; undefined for an unknown user. Other failures throw (the event is retried). */
  get(userId: string): Promise<Contact | undefined>;
  /** Deletes push tokens the provider rejected; returns how many were deleted. */
  removePushTokens(userId: string, tokens: readonly string[]): Promise<number>;
}

export function identityContacts(client: () => ServiceClient<typeof ContactDirectoryServiceService>): ContactDirectory {
  return {
    async get(userId) {
      try {
        const contact = await client().getContact({ userId });
        return {
          userId: contact.userId,
          phone: contact.phone,
          language: contact.language === Language.LANGUAGE_HINDI ? "hi" : "en",
          pushTokens: contact.pushTokens,
        };
      } catch (error) {
        if (error instanceof DomainError && error.code === GrpcCode.NOT_FOUND) return undefined;
        throw error;
      }
    },
    async removePushTokens(userId, tokens) {
      if (tokens.length === 0) return 0;
      return (await client().removePushTokens({ userId, pushTokens: [...tokens] })).removed;
    },
  };
}
