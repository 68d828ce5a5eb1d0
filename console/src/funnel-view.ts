/**
 * The dispatch funnel per hour (orders → waves → offers → accepted → assigned → completed, with
 * expiries and cancellations): the window's totals as bars, each hour as a column chart and a
 * table; and every service's health, read again every few seconds.
 */
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { FunnelHour, ServiceHealth } from "@weelo/contracts/es/weelo/ops/v1/ops_pb";
import { ServiceStatus } from "@weelo/contracts/es/weelo/ops/v1/ops_pb";
import type { Api } from "./api.js";
import { h, replace, svg, table } from "./dom.js";
import { hour, serviceStatusName } from "./format.js";
import { problem } from "./problem.js";

const STAGES = [
  ["orders", "Orders"],
  ["waves", "Waves"],
  ["offers", "Offers"],
  ["accepted", "Accepted"],
  ["assigned", "Assigned"],
  ["completed", "Completed"],
] as const;
const LOSSES = [
  ["offersExpired", "Offers expired"],
  ["expired", "Bookings expired"],
  ["cancelled", "Cancelled"],
] as const;
type Counted = (typeof STAGES)[number][0] | (typeof LOSSES)[number][0] | "bookings";

const HEALTH_REFRESH_MS = 5000;
const FUNNEL_REFRESH_MS = 30_000;

export class FunnelView {
  readonly element: HTMLElement;
  private readonly funnel: HTMLElement;
  private readonly health: HTMLElement;
  private readonly window: HTMLSelectElement;
  private timers: ReturnType<typeof setInterval>[] = [];

  constructor(
    private readonly api: Api,
    /** Told of every health reading (the header's summary). */
    private readonly onHealth: (services: ServiceHealth[] | undefined) => void,
  ) {
    this.window = h(
      "select",
      { name: "window", onchange: () => void this.loadFunnel() },
      h("option", { value: "6" }, "last 6 hours"),
      h("option", { value: "24", selected: true }, "last 24 hours"),
      h("option", { value: "72" }, "last 3 days"),
      h("option", { value: "168" }, "last 7 days"),
    );
    this.funnel = h("div", { class: "funnel" });
    this.health = h("div", { class: "health" });
    this.element = h(
      "section",
      { class: "view funnel-view" },
      h("div", { class: "funnel-panel" }, h("header", {}, h("h2", {}, "Dispatch funnel"), this.window), this.funnel),
      h("div", { class: "health-panel" }, h("h2", {}, "Service health"), this.health),
    );
  }

  /** Starts reading health for the header (from the login on). */
  start(): void {
    void this.loadHealth();
    this.timers.push(setInterval(() => void this.loadHealth(), HEALTH_REFRESH_MS));
  }

  stop(): void {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
  }

  show(): void {
    void this.loadFunnel();
    if (this.timers.length < 2) this.timers.push(setInterval(() => void this.loadFunnel(), FUNNEL_REFRESH_MS));
  }

  private async loadHealth(): Promise<void> {
    try {
      const { services } = await this.api.ops.getServiceHealth({});
      this.onHealth(services);
      replace(
        this.health,
        table(
          ["Service", "Status", "Latency", "Detail"],
          services.map((s) => [
            s.name,
            h("span", { class: `health-dot health-${s.status}` }, serviceStatusName(s.status)),
            s.status === ServiceStatus.UNREACHABLE ? "—" : `${s.latencyMs} ms`,
            s.detail,
          ]),
          { class: "services" },
        ),
        h("p", { class: "hint" }, `checked ${new Date().toLocaleTimeString("en-GB")}`),
      );
    } catch (error) {
      this.onHealth(undefined);
      replace(this.health, h("p", { class: "error" }, problem(error)));
    }
  }

  private async loadFunnel(): Promise<void> {
    const hours = Number(this.window.value);
    const to = new Date();
    const from = new Date(to.getTime() - hours * 3600_000);
    try {
      const answer = await this.api.ops.getFunnel({ from: timestampFromDate(from), to: timestampFromDate(to) });
      this.renderFunnel(answer.hours);
    } catch (error) {
      replace(this.funnel, h("p", { class: "error" }, problem(error)));
    }
  }

  private renderFunnel(hours: FunnelHour[]): void {
    const total = (key: Counted) => hours.reduce((sum, h) => sum + h[key], 0);
    replace(
      this.funnel,
      totalsChart([...STAGES, ...LOSSES].map(([key, label]) => ({ label, value: total(key), loss: isLoss(key) }))),
      hourlyChart(hours),
      table(
        ["Hour", ...STAGES.map(([, label]) => label), ...LOSSES.map(([, label]) => label)],
        [...hours]
          .reverse()
          .map((row) => [
            hour(row.hourStart),
            ...STAGES.map(([key]) => String(row[key])),
            ...LOSSES.map(([key]) => String(row[key])),
          ]),
        { class: "funnel-table" },
      ),
    );
  }
}

const isLoss = (key: string) => LOSSES.some(([k]) => k === key);

/** Horizontal bars of the window's totals, each as wide as its share of the orders' stage's widest. */
function totalsChart(rows: { label: string; value: number; loss: boolean }[]): SVGElement {
  const width = 520;
  const barHeight = 20;
  const labelWidth = 130;
  const max = Math.max(1, ...rows.map((r) => r.value));
  return svg(
    "svg",
    {
      class: "totals-chart",
      viewBox: `0 0 ${width} ${rows.length * (barHeight + 6)}`,
      role: "img",
      "aria-label": "funnel totals",
    },
    ...rows.flatMap((row, i) => {
      const y = i * (barHeight + 6);
      const barWidth = ((width - labelWidth - 60) * row.value) / max;
      const label = svg("text", { x: 0, y: y + 14, class: "chart-label" });
      label.textContent = row.label;
      const value = svg("text", { x: labelWidth + barWidth + 6, y: y + 14, class: "chart-value" });
      value.textContent = String(row.value);
      return [
        label,
        svg("rect", {
          x: labelWidth,
          y,
          width: Math.max(barWidth, 1),
          height: barHeight,
          class: row.loss ? "bar loss" : "bar",
        }),
        value,
      ];
    }),
  );
}

/** One column per hour: orders, with the completed share inside and cancellations and expiries as a dark cap. */
function hourlyChart(hours: FunnelHour[]): SVGElement {
  const width = 720;
  const height = 140;
  const max = Math.max(1, ...hours.map((h) => Math.max(h.bookings, h.orders)));
  const column = width / Math.max(1, hours.length);
  const scale = (v: number) => ((height - 20) * v) / max;
  const parts: SVGElement[] = [];
  hours.forEach((row, i) => {
    const x = i * column + 1;
    const w = Math.max(1, column - 2);
    const total = Math.max(row.bookings, row.orders);
    parts.push(svg("rect", { x, y: height - 16 - scale(total), width: w, height: scale(total), class: "col orders" }));
    parts.push(
      svg("rect", {
        x,
        y: height - 16 - scale(row.completed),
        width: w,
        height: scale(row.completed),
        class: "col completed",
      }),
    );
    const lost = row.cancelled + row.expired;
    parts.push(
      svg("rect", {
        x,
        y: height - 16 - scale(total) - scale(lost),
        width: w,
        height: scale(lost),
        class: "col lost",
      }),
    );
    if (hours.length <= 24 || i % Math.ceil(hours.length / 24) === 0) {
      const label = svg("text", { x: x + w / 2, y: height - 3, class: "chart-tick" });
      label.textContent = hour(row.hourStart).slice(0, 2);
      parts.push(label);
    }
  });
  return svg(
    "svg",
    { class: "hourly-chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "bookings per hour" },
    ...parts,
  );
}
