/**
 * The operations user acting: their id from the access token, their phone from identity
 * (GetAccounts), kept in this process (an account's phone never changes: one account per phone and role).
 */
import type { Principal } from "@weelo/auth";
import type { Actor, OpsContext } from "./ops.context.js";

const REMEMBERED = 1000;

export function createActors(ctx: OpsContext) {
  const phones = new Map<string, string>();
  return async function actorOf(principal: Principal): Promise<Actor> {
    let phone = phones.get(principal.userId);
    if (phone === undefined) {
      const { accounts } = await ctx.upstreams.accounts.getAccounts({ userIds: [principal.userId] });
      phone = accounts[0]?.user?.phone ?? "";
      if (phones.size >= REMEMBERED) phones.clear();
      if (phone !== "") phones.set(principal.userId, phone);
    }
    return { userId: principal.userId, phone };
  };
}
