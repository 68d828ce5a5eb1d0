/**
 * The console's way to the API: @weelo/client over fetch (Connect, binary protobuf: the fleet
 * stream's bytes matter), its session kept in localStorage with the SDK's one shared refresh.
 * The operations user logs in by OTP with role ops (a phone on the gateway's OPS_PHONES list).
 */
import type { Client } from "@connectrpc/connect";
import {
  createWeeloClient,
  isUnauthenticated,
  SessionEndedError,
  storageTokenStore,
  type WeeloClient,
} from "@weelo/client";
import { Role } from "@weelo/contracts/es/weelo/common/v1/common_pb";
import type { OpsService } from "@weelo/contracts/es/weelo/ops/v1/ops_service_pb";
import type { Bounds } from "./fleet-stream.js";

export interface Api {
  weelo: WeeloClient;
  /** OpsService on the SDK's session: the token on every call, one shared refresh, safe calls retried. */
  ops: Client<typeof OpsService>;
}

/** Where the console keeps its tokens (apart from any app on the same origin). */
const TOKENS_KEY = "weelo.console.tokens";

export function createApi(onSessionEnded: () => void): Api {
  const weelo = createWeeloClient({
    baseUrl: location.origin,
    binary: true,
    tokenStore: storageTokenStore(localStorage, TOKENS_KEY),
    onSessionEnded,
  });
  return { weelo, ops: weelo.ops };
}

/** SendOtp for an operations user; in development the answer carries the code (devOtp). */
export async function sendOtp(api: Api, phone: string): Promise<{ devOtp: string; resendAfterSeconds: number }> {
  const sent = await api.weelo.auth.sendOtp({ phone, role: Role.OPS });
  return { devOtp: sent.devOtp, resendAfterSeconds: sent.resendAfterSeconds };
}

/** VerifyOtp, then the session begins (kept in localStorage). */
export async function verifyOtp(api: Api, phone: string, otp: string): Promise<void> {
  const verified = await api.weelo.auth.verifyOtp({ phone, otp, role: Role.OPS });
  if (!verified.tokens?.accessToken || !verified.user) throw new Error("VerifyOtp returned no tokens");
  await api.weelo.session.begin({
    accessToken: verified.tokens.accessToken,
    refreshToken: verified.tokens.refreshToken,
    userId: verified.user.id,
  });
}

/** WatchFleet for a box; an expired token is renewed before the error goes up (the caller reopens). */
export async function* watchFleet(api: Api, bounds: Bounds, signal: AbortSignal) {
  const token = await api.weelo.session.accessToken();
  try {
    yield* api.ops.watchFleet({ bounds }, { signal });
  } catch (error) {
    if (isUnauthenticated(error) && !(error instanceof SessionEndedError)) await api.weelo.session.renew(token);
    throw error;
  }
}
