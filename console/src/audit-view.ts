/** The audit trail: every intervention, newest first, optionally of one booking or user. */
import type { Api } from "./api.js";
import { auditTable } from "./bookings-view.js";
import { h, replace } from "./dom.js";
import { problem } from "./problem.js";

export class AuditView {
  readonly element: HTMLElement;
  private readonly list: HTMLElement;
  private readonly target: HTMLInputElement;
  private pages: string[] = [];
  private pageToken = "";
  private loads = 0;

  constructor(private readonly api: Api) {
    this.target = h("input", { name: "target", maxlength: 64, class: "mono", placeholder: "booking or user id" });
    const form = h(
      "form",
      { class: "filters inline" },
      h("label", {}, "Target", this.target),
      h("button", { type: "submit", class: "primary" }, "Filter"),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.pages = [];
      this.pageToken = "";
      void this.load();
    });
    this.list = h("div", { class: "audit-list" });
    this.element = h("section", { class: "view audit-view" }, h("h2", {}, "Audit trail"), form, this.list);
  }

  show(): void {
    void this.load();
  }

  private async load(): Promise<void> {
    const asked = ++this.loads;
    try {
      const answer = await this.api.ops.listAuditEntries({
        targetId: this.target.value.trim(),
        page: { pageSize: 50, pageToken: this.pageToken },
      });
      if (asked !== this.loads) return; // a later load answers
      const next = answer.page?.nextPageToken ?? "";
      replace(
        this.list,
        auditTable(answer.entries),
        h(
          "div",
          { class: "pager" },
          h(
            "button",
            {
              type: "button",
              disabled: this.pages.length === 0,
              onclick: () => {
                this.pageToken = this.pages.pop() ?? "";
                void this.load();
              },
            },
            "Previous",
          ),
          h(
            "button",
            {
              type: "button",
              disabled: !next,
              onclick: () => {
                this.pages.push(this.pageToken);
                this.pageToken = next;
                void this.load();
              },
            },
            "Next",
          ),
        ),
      );
    } catch (error) {
      if (asked === this.loads) replace(this.list, h("p", { class: "error" }, problem(error)));
    }
  }
}
