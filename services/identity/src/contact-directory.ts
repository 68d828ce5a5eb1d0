/**
 * ContactDirectoryService: how other services reach a user (phone, language, push tokens),
 * and removal of push tokens the push provider rejected. Internal: the gateway never serves
 * it; the notification service calls it without a user token.
 */
import type { ContactDirectoryServiceService } from "@weelo/contracts/grpc/weelo/identity/v1/contact_directory_service";
import { NotFoundError } from "@weelo/errors";
import { validateId } from "@weelo/formats";
import { languageToProto, type ServiceHandlers } from "@weelo/grpc";
import type { IdentityDb } from "./identity.repository.js";

export function contactDirectoryHandlers(db: IdentityDb): ServiceHandlers<typeof ContactDirectoryServiceService> {
  return {
    async getContact(request) {
      const userId = validateId(request.userId, "user_id");
      const user = await db
        .selectFrom("users")
        .select(["id", "phone", "language"])
        .where("id", "=", userId)
        .executeTakeFirst();
      if (!user) throw new NotFoundError("no such user", { reason: "USER_NOT_FOUND" });
      const devices = await db
        .selectFrom("devices")
        .select("push_token")
        .where("user_id", "=", userId)
        .orderBy("updated_at", "desc")
        .orderBy("id", "desc")
        .execute();
      return {
        userId: user.id,
        phone: user.phone,
        language: languageToProto(user.language),
        pushTokens: devices.map((d) => d.push_token),
      };
    },
    async removePushTokens(request) {
      const userId = validateId(request.userId, "user_id");
      const tokens = [...new Set(request.pushTokens.map((t) => t.trim()).filter(Boolean))];
      if (tokens.length === 0) return { removed: 0 };
      const result = await db
        .deleteFrom("devices")
        .where("user_id", "=", userId)
        .where("push_token", "in", tokens)
        .executeTakeFirst();
      return { removed: Number(result.numDeletedRows) };
    },
  };
}
