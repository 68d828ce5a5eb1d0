/**
 * Users by phone (OpsService.FindUsers: one account per role) with block and unblock; blocking
 * revokes the account's sessions at once.
 */
import type { Person } from "@weelo/contracts/es/weelo/ops/v1/ops_pb";
import type { Api } from "./api.js";
import { h, replace, table } from "./dom.js";
import { roleName, shortId, time } from "./format.js";
import { intervene } from "./interventions.js";
import { problem } from "./problem.js";

export class UsersView {
  readonly element: HTMLElement;
  private readonly phone: HTMLInputElement;
  private readonly list: HTMLElement;

  constructor(private readonly api: Api) {
    this.phone = h("input", { name: "phone", maxlength: 20, inputmode: "tel", required: true });
    const form = h(
      "form",
      { class: "filters inline" },
      h("label", {}, "Phone", this.phone),
      h("button", { type: "submit", class: "primary" }, "Find"),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.find();
    });
    this.list = h("div", { class: "users-list" });
    this.element = h("section", { class: "view users-view" }, h("h2", {}, "Users"), form, this.list);
  }

  show(): void {
    this.phone.focus();
  }

  /** Shows the accounts of a phone. */
  async lookUp(phone: string): Promise<void> {
    this.phone.value = phone;
    await this.find();
  }

  private async find(): Promise<void> {
    const phone = this.phone.value.trim();
    if (!phone) return;
    try {
      const { users } = await this.api.ops.findUsers({ phone });
      this.render(users);
    } catch (error) {
      replace(this.list, h("p", { class: "error" }, problem(error)));
    }
  }

  private render(users: Person[]): void {
    if (users.length === 0) {
      replace(this.list, h("p", { class: "empty" }, "No account has this phone."));
      return;
    }
    replace(
      this.list,
      table(
        ["User", "Role", "Phone", "Name", "Blocked", ""],
        users.map((user) => [
          h("span", { class: "mono", title: user.userId }, shortId(user.userId)),
          roleName(user.role),
          user.phone,
          user.name || "—",
          user.blockedAt ? time(user.blockedAt) : "no",
          user.blockedAt
            ? h("button", { type: "button", onclick: () => void this.unblock(user) }, "Unblock…")
            : h("button", { type: "button", class: "danger", onclick: () => void this.block(user) }, "Block…"),
        ]),
        { class: "users" },
      ),
    );
  }

  private async block(user: Person): Promise<void> {
    const done = await intervene({
      title: `Block this ${roleName(user.role)}`,
      description: `${user.phone} can no longer log in, and every session of the account ends now.`,
      confirm: "Block",
      run: async (reason, _values, idempotencyKey) => {
        const answer = await this.api.ops.blockUser({ userId: user.userId, reason, idempotencyKey });
        return `blocked, ${answer.sessionsRevoked} sessions revoked`;
      },
    });
    if (done) await this.find();
  }

  private async unblock(user: Person): Promise<void> {
    const done = await intervene({
      title: `Unblock this ${roleName(user.role)}`,
      description: `${user.phone} may log in again.`,
      confirm: "Unblock",
      run: async (reason, _values, idempotencyKey) => {
        const answer = await this.api.ops.unblockUser({ userId: user.userId, reason, idempotencyKey });
        return answer.unblocked ? "unblocked" : "was not blocked";
      },
    });
    if (done) await this.find();
  }
}
