/** gRPC handlers of AuthService and ProfileService: protobuf ⇄ domain, nothing else. */
import type { AuthServiceService } from "@weelo/contracts/grpc/weelo/identity/v1/auth_service";
import {
  DevicePlatform,
  type Device,
  type TokenPair,
  type User,
} from "@weelo/contracts/grpc/weelo/identity/v1/identity";
import type { ProfileServiceService } from "@weelo/contracts/grpc/weelo/identity/v1/profile_service";
import { InvalidArgumentError } from "@weelo/errors";
import {
  languageFromProto,
  languageToProto,
  requirePrincipal,
  roleFromProto,
  roleToProto,
  type ServiceHandlers,
} from "@weelo/grpc";
import type { IdentityService, TokenPair as DomainTokenPair } from "./identity.service.js";
import type { DeviceRow, UserRow } from "./identity.table.js";

/** Methods reachable without an access token. */
export const PUBLIC_AUTH_METHODS = ["SendOtp", "VerifyOtp", "RefreshToken", "Logout"] as const;

export function authHandlers(identity: IdentityService): ServiceHandlers<typeof AuthServiceService> {
  return {
    async sendOtp(request, ctx) {
      const sent = await identity.sendOtp({
        phone: request.phone,
        role: roleFromProto(request.role),
        clientIp: ctx.clientIp,
      });
      return { expiresAt: sent.expiresAt, resendAfterSeconds: sent.resendAfterSeconds, devOtp: sent.devOtp };
    },
    async verifyOtp(request) {
      const { tokens, user, created } = await identity.verifyOtp({
        phone: request.phone,
        otp: request.otp,
        role: roleFromProto(request.role),
      });
      return { tokens: tokenPairToProto(tokens), user: userToProto(user), isNewUser: created };
    },
    async refreshToken(request) {
      return { tokens: tokenPairToProto(await identity.refresh(request.refreshToken)) };
    },
    async logout(request, ctx) {
      await identity.logout({ principal: ctx.principal, refreshToken: request.refreshToken });
      return {};
    },
  };
}

export function profileHandlers(identity: IdentityService): ServiceHandlers<typeof ProfileServiceService> {
  return {
    async getMe(_request, ctx) {
      return { user: userToProto(await identity.getMe(requirePrincipal(ctx))) };
    },
    async updateProfile(request, ctx) {
      const user = await identity.updateProfile(requirePrincipal(ctx), {
        name: request.name,
        email: request.email,
        companyName: request.companyName,
        gstin: request.gstin,
        language: request.language === undefined ? undefined : languageFromProto(request.language),
      });
      return { user: userToProto(user) };
    },
    async registerDevice(request, ctx) {
      const principal = requirePrincipal(ctx);
      const device = await identity.registerDevice(principal, {
        pushToken: request.pushToken,
        platform: platformFromProto(request.platform),
      });
      return { device: deviceToProto(device) };
    },
    async unregisterDevice(request, ctx) {
      return { removed: await identity.unregisterDevice(requirePrincipal(ctx), request.pushToken) };
    },
  };
}

export function userToProto(user: UserRow): User {
  return {
    id: user.id,
    phone: user.phone,
    role: roleToProto(user.role),
    name: user.name,
    email: user.email,
    companyName: user.company_name,
    gstin: user.gstin,
    language: languageToProto(user.language),
    transporterId: user.transporter_id ?? "",
    createdAt: user.created_at,
    updatedAt: user.updated_at,
  };
}

function tokenPairToProto(tokens: DomainTokenPair): TokenPair {
  return {
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    accessTokenExpiresAt: tokens.accessTokenExpiresAt,
    refreshTokenExpiresAt: tokens.refreshTokenExpiresAt,
    tokenType: "Bearer",
  };
}

const PLATFORMS: Partial<Record<DevicePlatform, string>> = {
  [DevicePlatform.DEVICE_PLATFORM_ANDROID]: "android",
  [DevicePlatform.DEVICE_PLATFORM_IOS]: "ios",
  [DevicePlatform.DEVICE_PLATFORM_WEB]: "web",
};

function platformFromProto(platform: DevicePlatform): string {
  const word = PLATFORMS[platform];
  if (!word)
    throw new InvalidArgumentError(
      "platform",
      "platform must be DEVICE_PLATFORM_ANDROID, DEVICE_PLATFORM_IOS or DEVICE_PLATFORM_WEB",
    );
  return word;
}

function deviceToProto(device: DeviceRow): Device {
  const platform = Number(
    Object.entries(PLATFORMS).find(([, word]) => word === device.platform)?.[0] ?? 0,
  ) as DevicePlatform;
  return { id: device.id, pushToken: device.push_token, platform, updatedAt: device.updated_at };
}
