/**
 * The bookings board: every customer's bookings, filtered by status, pickup city, creation time,
 * customer phone or booking id, a page at a time; and one booking's detail (history, offers,
 * driver, breadcrumb, audit) with the interventions that apply to its status.
 */
import { type Timestamp, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { BookingStatus } from "@weelo/contracts/es/weelo/booking/v1/booking_pb";
import type { GetBookingDetailResponse } from "@weelo/contracts/es/weelo/ops/v1/ops_service_pb";
import type { AuditEntry, BookingRow } from "@weelo/contracts/es/weelo/ops/v1/ops_pb";
import type { Api } from "./api.js";
import { h, replace, table } from "./dom.js";
import {
  ALL_STATUSES,
  actionName,
  actorName,
  distance,
  offerStatusName,
  OPEN_STATUSES,
  outcomeName,
  rupees,
  shortId,
  statusName,
  time,
} from "./format.js";
import { intervene } from "./interventions.js";
import { problem } from "./problem.js";

const PAGE_SIZE = 25;
const FINAL = new Set([BookingStatus.COMPLETED, BookingStatus.CANCELLED]);
const REOPENABLE = new Set([BookingStatus.CONFIRMED, BookingStatus.ASSIGNED, BookingStatus.DRIVER_EN_ROUTE]);
const REASSIGNABLE = new Set([BookingStatus.ASSIGNED, BookingStatus.DRIVER_EN_ROUTE]);

/** SearchBookingsRequest but its page. */
interface Filters {
  statuses: BookingStatus[];
  city: string;
  customerPhone: string;
  bookingId: string;
  createdFrom: Timestamp | undefined;
  createdTo: Timestamp | undefined;
}

export interface BookingsViewOptions {
  api: Api;
  /** Shows the booking's breadcrumb on the live map. */
  showOnMap(bookingId: string): void;
  /** Opens the users view on a phone (block, unblock). */
  findUser(phone: string): void;
}

export class BookingsView {
  readonly element: HTMLElement;
  private readonly form: HTMLFormElement;
  private readonly results: HTMLElement;
  private readonly detail: HTMLElement;
  /** Tokens of the pages before the one shown (Previous), and the one shown. */
  private pages: string[] = [];
  private pageToken = "";
  /** The filters of the search shown (every field but the page). */
  private request: Filters | undefined;
  private shown: string | undefined;
  /** Searches asked for since the page opened. */
  private searches = 0;

  constructor(private readonly options: BookingsViewOptions) {
    const statuses = ALL_STATUSES.map((status) =>
      h(
        "label",
        { class: "check" },
        h("input", { type: "checkbox", name: "status", value: String(status) }),
        statusName(status),
      ),
    );
    this.form = h(
      "form",
      { class: "filters", "aria-label": "Search bookings" },
      h("fieldset", { class: "statuses" }, h("legend", {}, "Status"), ...statuses),
      h(
        "div",
        { class: "fields" },
        h("label", {}, "Booking id", h("input", { name: "bookingId", maxlength: 64, class: "mono" })),
        h("label", {}, "Customer phone", h("input", { name: "phone", maxlength: 20, inputmode: "tel" })),
        h("label", {}, "Pickup city", h("input", { name: "city", maxlength: 100 })),
        h("label", {}, "Created from", h("input", { name: "from", type: "datetime-local" })),
        h("label", {}, "Created before", h("input", { name: "to", type: "datetime-local" })),
      ),
      h(
        "div",
        { class: "buttons" },
        h("button", { type: "button", onclick: () => this.onlyOpen() }, "Open ones"),
        h("button", { type: "reset" }, "Clear"),
        h("button", { type: "submit", class: "primary" }, "Search"),
      ),
    );
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.search();
    });
    this.results = h("div", { class: "results" });
    this.detail = h("div", { class: "booking-detail" });
    this.element = h(
      "section",
      { class: "view bookings-view" },
      h("div", { class: "board" }, this.form, this.results),
      this.detail,
    );
  }

  show(): void {
    if (!this.request) void this.search();
  }

  private onlyOpen(): void {
    for (const box of this.form.querySelectorAll<HTMLInputElement>("input[name=status]"))
      box.checked = OPEN_STATUSES.includes(Number(box.value));
    void this.search();
  }

  /** A new search from the form: its first page. */
  async search(): Promise<void> {
    const data = new FormData(this.form);
    const text = (name: string) => String(data.get(name) ?? "").trim();
    const at = (name: string): Timestamp | undefined =>
      text(name) ? timestampFromDate(new Date(text(name))) : undefined;
    this.request = {
      statuses: data.getAll("status").map((s) => Number(s) as BookingStatus),
      city: text("city"),
      customerPhone: text("phone"),
      bookingId: text("bookingId"),
      createdFrom: at("from"),
      createdTo: at("to"),
    };
    this.pages = [];
    this.pageToken = "";
    await this.load();
  }

  private async load(): Promise<void> {
    if (!this.request) return;
    // Answers can come back out of order (a slow first search, a quick second): only the last one is shown.
    const asked = ++this.searches;
    this.results.setAttribute("aria-busy", "true");
    try {
      const answer = await this.options.api.ops.searchBookings({
        ...this.request,
        page: { pageSize: PAGE_SIZE, pageToken: this.pageToken },
      });
      if (asked === this.searches) this.renderResults(answer.bookings, answer.page?.nextPageToken ?? "");
    } catch (error) {
      if (asked === this.searches) replace(this.results, h("p", { class: "error" }, problem(error)));
    } finally {
      if (asked === this.searches) this.results.removeAttribute("aria-busy");
    }
  }

  private renderResults(rows: BookingRow[], next: string): void {
    const pageNumber = this.pages.length + 1;
    const body = rows.map((row) => {
      const b = row.booking!;
      const tr = h(
        "tr",
        { class: "row", "data-booking": b.id, tabindex: 0 },
        h("td", { class: "mono", title: b.id }, shortId(b.id)),
        h("td", {}, time(b.createdAt)),
        h("td", {}, h("span", { class: `status status-${b.status}` }, statusName(b.status))),
        h("td", {}, row.customerPhone, row.customerName ? h("small", {}, ` ${row.customerName}`) : null),
        h("td", {}, `${b.pickup?.city ?? "?"} → ${b.drop?.city ?? "?"}`),
        h("td", {}, b.vehicleType),
        h("td", { class: "number" }, rupees(b.farePaise)),
      );
      const open = () => void this.open(b.id);
      tr.addEventListener("click", open);
      tr.addEventListener("keydown", (event) => {
        if ((event as KeyboardEvent).key === "Enter") open();
      });
      return tr;
    });
    replace(
      this.results,
      rows.length === 0
        ? h("p", { class: "empty" }, "No booking matches.")
        : h(
            "table",
            { class: "bookings" },
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                ...["Booking", "Created", "Status", "Customer", "Route", "Vehicle", "Fare"].map((n) => h("th", {}, n)),
              ),
            ),
            h("tbody", {}, ...body),
          ),
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
        h("span", {}, `page ${pageNumber}`),
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
  }

  /** Shows one booking's detail. */
  async open(bookingId: string): Promise<void> {
    this.shown = bookingId;
    if (location.hash !== `#bookings/${bookingId}`) history.replaceState(null, "", `#bookings/${bookingId}`);
    for (const row of this.results.querySelectorAll("tr.row"))
      row.classList.toggle("selected", (row as HTMLElement).dataset.booking === bookingId);
    this.detail.setAttribute("aria-busy", "true");
    try {
      const detail = await this.options.api.ops.getBookingDetail({ bookingId });
      if (this.shown === bookingId) this.renderDetail(detail);
    } catch (error) {
      replace(this.detail, h("p", { class: "error" }, `booking ${bookingId}: ${problem(error)}`));
    } finally {
      this.detail.removeAttribute("aria-busy");
    }
  }

  private async afterIntervention(bookingId: string): Promise<void> {
    await this.open(bookingId);
    await this.load();
  }

  private renderDetail(detail: GetBookingDetailResponse): void {
    const row = detail.row!;
    const b = row.booking!;
    const { api } = this.options;
    const actions: HTMLElement[] = [];
    if (!FINAL.has(b.status))
      actions.push(
        h(
          "button",
          {
            type: "button",
            class: "danger action-cancel",
            onclick: () =>
              void intervene({
                title: "Cancel booking",
                description: `Booking ${shortId(b.id)} (${statusName(b.status)}) is cancelled; the customer, transporter and driver are told.`,
                confirm: "Cancel booking",
                run: async (reason, _values, idempotencyKey) => {
                  const answer = await api.ops.cancelBooking({ bookingId: b.id, reason, idempotencyKey });
                  return `cancelled (audit ${shortId(answer.auditId)})`;
                },
              }).then((done) => {
                if (done) return this.afterIntervention(b.id);
              }),
          },
          "Cancel…",
        ),
      );
    if (REOPENABLE.has(b.status))
      actions.push(
        h(
          "button",
          {
            type: "button",
            class: "action-reopen",
            onclick: () =>
              void intervene({
                title: "Reopen for dispatch",
                description: `The transporter and driver of ${shortId(b.id)} are released and the booking is broadcast again.`,
                confirm: "Reopen",
                run: async (reason, _values, idempotencyKey) => {
                  const answer = await api.ops.reopenBooking({ bookingId: b.id, reason, idempotencyKey });
                  return `reopened (audit ${shortId(answer.auditId)})`;
                },
              }).then((done) => {
                if (done) return this.afterIntervention(b.id);
              }),
          },
          "Reopen…",
        ),
      );
    if (REASSIGNABLE.has(b.status))
      actions.push(
        h(
          "button",
          {
            type: "button",
            class: "action-reassign",
            onclick: () =>
              void intervene({
                title: "Reassign the driver",
                description: `Another driver and vehicle of transporter ${b.transporterId} take booking ${shortId(b.id)}.`,
                confirm: "Reassign",
                fields: [
                  { name: "driverId", label: "Driver id", placeholder: "fleet id of the driver" },
                  { name: "vehicleId", label: "Vehicle id", placeholder: "id of the vehicle" },
                ],
                run: async (reason, values, idempotencyKey) => {
                  const answer = await api.ops.reassignDriver({
                    bookingId: b.id,
                    driverId: values.driverId ?? "",
                    vehicleId: values.vehicleId ?? "",
                    reason,
                    idempotencyKey,
                  });
                  return `reassigned (audit ${shortId(answer.auditId)})`;
                },
              }).then((done) => {
                if (done) return this.afterIntervention(b.id);
              }),
          },
          "Reassign…",
        ),
      );
    const fact = (name: string, ...value: (Node | string)[]) => [h("dt", {}, name), h("dd", {}, ...value)];
    const userButton = (phone: string, label: string) =>
      phone ? h("button", { type: "button", class: "small", onclick: () => this.options.findUser(phone) }, label) : "";
    replace(
      this.detail,
      h(
        "header",
        {},
        h("h2", {}, "Booking ", h("span", { class: "mono", title: b.id }, b.id)),
        h("span", { class: `status status-${b.status}`, "data-status": statusName(b.status) }, statusName(b.status)),
      ),
      h(
        "div",
        { class: "buttons" },
        ...actions,
        h("button", { type: "button", onclick: () => this.options.showOnMap(b.id) }, "Show on map"),
        h("button", { type: "button", onclick: () => void this.open(b.id) }, "Refresh"),
      ),
      h(
        "dl",
        { class: "facts" },
        ...fact("order", h("span", { class: "mono" }, b.orderId)),
        ...fact(
          "customer",
          `${row.customerPhone}${row.customerName ? ` (${row.customerName})` : ""} `,
          userButton(row.customerPhone, "Block / unblock…"),
        ),
        ...fact("pickup", `${b.pickup?.line1 ?? ""}, ${b.pickup?.city ?? ""}`),
        ...fact("drop", `${b.drop?.line1 ?? ""}, ${b.drop?.city ?? ""}`),
        ...fact("load", `${b.vehicleType} · ${b.goodsType} · ${b.weightKg} kg`),
        ...fact("fare", `${rupees(b.farePaise)} · ${distance(b.distanceM)}`),
        ...fact("scheduled", time(b.scheduledAt)),
        ...fact("created", time(b.createdAt)),
        ...fact("transporter", h("span", { class: "mono" }, b.transporterId || "—")),
        ...fact(
          "driver",
          detail.driver
            ? `${detail.driver.name || "—"} ${detail.driver.phone}${detail.driver.blockedAt ? " (blocked)" : ""} `
            : "—",
          detail.driver ? userButton(detail.driver.phone, "Block / unblock…") : "",
        ),
        ...fact("driver id", h("span", { class: "mono" }, b.driverId || "—")),
        ...fact("vehicle", h("span", { class: "mono" }, b.vehicleId || "—")),
        ...(b.cancellationReason
          ? fact("cancelled", `${b.cancellationReason} · fee ${rupees(b.cancellationFeePaise)}`)
          : []),
        ...fact("breadcrumb", `${detail.path.length} points · ${distance(detail.pathDistanceM)}`),
      ),
      h("h3", {}, "History"),
      table(
        ["When", "From", "To", "By", "Reason"],
        detail.history.map((c) => [
          time(c.occurredAt),
          statusName(c.from),
          h("span", { class: `status status-${c.to}` }, statusName(c.to)),
          `${actorName(c.actorRole)}${c.actorId ? ` ${shortId(c.actorId)}` : ""}`,
          `${c.reason}${c.reopened ? " (reopened)" : ""}`,
        ]),
        { class: "history" },
      ),
      h("h3", {}, "Offers"),
      detail.offers.length === 0
        ? h("p", { class: "empty" }, "No offer was made.")
        : table(
            ["Made", "Wave", "Transporter", "Status", "Trucks open", "Accepted", "Expires"],
            detail.offers.map((o) => [
              time(o.createdAt),
              String(o.wave),
              h("span", { class: "mono" }, shortId(o.transporterId)),
              offerStatusName(o.status),
              `${o.vehicleCountOpen}/${o.vehicleCountTotal}`,
              String(o.acceptedCount),
              time(o.expiresAt),
            ]),
            { class: "offers" },
          ),
      h("h3", {}, "Audit"),
      auditTable(detail.audit),
    );
  }
}

/** Interventions as a table (the booking's, and the audit view's). */
export function auditTable(entries: AuditEntry[]): HTMLElement {
  if (entries.length === 0) return h("p", { class: "empty" }, "No intervention.");
  return table(
    ["When", "Who", "Action", "Target", "Reason", "Outcome", "Before → after"],
    entries.map((e) => [
      time(e.createdAt),
      e.actorPhone || shortId(e.actorUserId),
      actionName(e.action),
      h("span", { class: "mono", title: e.targetId }, shortId(e.targetId)),
      e.reason,
      h("span", { class: `outcome outcome-${e.outcome}` }, outcomeName(e.outcome), e.error ? `: ${e.error}` : ""),
      h(
        "details",
        {},
        h("summary", {}, "JSON"),
        h("pre", {}, `before ${pretty(e.beforeJson)}\nafter ${pretty(e.afterJson)}`),
      ),
    ]),
    { class: "audit" },
  );
}

function pretty(json: string): string {
  if (!json) return "—";
  try {
    return JSON.stringify(JSON.parse(json), null, 2);
  } catch {
    return json;
  }
}
