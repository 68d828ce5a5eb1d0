/** gRPC handlers of NotificationService: protobuf ⇄ domain, nothing else. */
import { NotificationKind, type Notification } from "@weelo/contracts/grpc/weelo/notification/v1/notification";
import type { NotificationServiceService } from "@weelo/contracts/grpc/weelo/notification/v1/notification_service";
import { requirePrincipal, type ServiceHandlers } from "@weelo/grpc";
import type { NotificationService } from "./notification.service.js";
import type { NotificationRow } from "./notification.table.js";

export function notificationHandlers(
  notifications: NotificationService,
): ServiceHandlers<typeof NotificationServiceService> {
  return {
    async listNotifications(request, ctx) {
      const page = await notifications.listNotifications(requirePrincipal(ctx), {
        pageSize: request.pageSize,
        pageToken: request.pageToken,
        unreadOnly: request.unreadOnly,
      });
      return {
        notifications: page.items.map(notificationToProto),
        nextPageToken: page.nextPageToken,
        unreadCount: page.unreadCount,
      };
    },
    async markRead(request, ctx) {
      const { notification, unreadCount } = await notifications.markRead(requirePrincipal(ctx), request.notificationId);
      return { notification: notificationToProto(notification), unreadCount };
    },
  };
}

export function kindToProto(kind: string): NotificationKind {
  const value = (NotificationKind as unknown as Record<string, number | undefined>)[
    `NOTIFICATION_KIND_${kind.toUpperCase()}`
  ];
  return value ?? NotificationKind.NOTIFICATION_KIND_UNSPECIFIED;
}

export function notificationToProto(row: NotificationRow): Notification {
  return {
    id: row.id,
    kind: kindToProto(row.kind),
    title: row.title,
    body: row.body,
    bookingId: row.booking_id,
    data: row.data,
    createdAt: row.created_at,
    readAt: row.read_at ?? undefined,
  };
}
