/**
 * The live map: the trucks of the visible box from OpsService.WatchFleet (reopened when the map
 * moves, reconnecting when it breaks), pins for the open bookings' pickups and drops (refreshed
 * every few seconds), and the detail of a clicked truck or booking with its trip's breadcrumb.
 */
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import type { GetBookingDetailResponse } from "@weelo/contracts/es/weelo/ops/v1/ops_service_pb";
import type { BookingRow } from "@weelo/contracts/es/weelo/ops/v1/ops_pb";
import * as L from "leaflet";
import { type Api, watchFleet } from "../api.js";
import type { ConsoleConfig } from "../config.js";
import { h, replace } from "../dom.js";
import { FleetState, type TruckView } from "../fleet-state.js";
import { FleetStream, type FleetStatus } from "../fleet-stream.js";
import { distance, OPEN_STATUSES, shortId, statusName, time, TRUCK_STATES, truckStateName } from "../format.js";
import { problem } from "../problem.js";
import { createGridLayer } from "./grid-layer.js";
import { TruckLayer } from "./truck-layer.js";

/** How often the open bookings' pins are read again (ms). */
const PINS_REFRESH_MS = 5000;
/** Pages of open bookings read for the pins (a page is the server's largest). */
const PINS_MAX_PAGES = 5;

export interface MapViewOptions {
  api: Api;
  config: ConsoleConfig;
  /** Opens a booking on the board. */
  openBooking(bookingId: string): void;
}

export class MapView {
  readonly element: HTMLElement;
  readonly fleet = new FleetState();
  private readonly mapElement: HTMLElement;
  /** Made at the first show (Leaflet measures its container, which must be in the page by then). */
  private map!: L.Map;
  private trucks!: TruckLayer;
  private readonly renderer = L.canvas({ padding: 0.2 });
  private readonly pins = L.layerGroup();
  private readonly trail = L.layerGroup();
  private readonly legend: HTMLElement;
  private readonly status: HTMLElement;
  private readonly detail: HTMLElement;
  private stream: FleetStream | undefined;
  private pinsTimer: ReturnType<typeof setInterval> | undefined;
  private countsTimer: ReturnType<typeof setInterval> | undefined;
  /** What the detail panel shows, kept up to date as trucks move. */
  private selection: { kind: "truck"; handle: number } | { kind: "booking"; id: string } | undefined;
  /** Open bookings drawn as pins. */
  openBookings = 0;
  private visible = false;
  /** A booking to show once the map is visible. */
  private pendingBooking: string | undefined;

  constructor(private readonly options: MapViewOptions) {
    const mapElement = h("div", { class: "map", id: "map" });
    this.mapElement = mapElement;
    this.legend = h("div", { class: "legend" });
    this.status = h("div", { class: "stream-status", "data-status": "connecting" }, "connecting…");
    this.detail = h("div", { class: "map-detail" }, h("p", { class: "hint" }, "Click a truck or a booking pin."));
    this.element = h(
      "section",
      { class: "view map-view" },
      mapElement,
      h(
        "aside",
        { class: "map-side" },
        h("h2", {}, "Fleet"),
        this.legend,
        h("button", { type: "button", class: "small fit", onclick: () => this.fitTrucks() }, "Zoom to the trucks"),
        this.status,
        this.detail,
      ),
    );
    this.renderLegend();
  }

  /** The map became visible: size it, open the stream, start the pins. */
  show(): void {
    if (this.map) this.map.invalidateSize({ pan: false });
    else this.createMap();
    this.stream ??= new FleetStream({
      open: (bounds, signal) => watchFleet(this.options.api, bounds, signal),
      onBatch: (batch) => {
        this.fleet.apply(batch, Date.now());
        this.trucks.changed();
      },
      onStatus: (status) => this.showStatus(status),
    });
    this.stream.watch(this.bounds());
    void this.refreshPins();
    this.pinsTimer ??= setInterval(() => void this.refreshPins(), PINS_REFRESH_MS);
    this.countsTimer ??= setInterval(() => this.tick(), 1000);
    this.visible = true;
    if (this.pendingBooking) void this.showBooking(this.pendingBooking);
    this.pendingBooking = undefined;
  }

  private createMap(): void {
    const { config } = this.options;
    const mapElement = this.mapElement;
    this.map = L.map(mapElement, {
      center: [config.center.lat, config.center.lng],
      zoom: config.zoom,
      preferCanvas: true,
      renderer: this.renderer,
      worldCopyJump: false,
    });
    if (config.tileUrl) {
      L.tileLayer(config.tileUrl, { attribution: escapeHtml(config.tileAttribution), maxZoom: 19 }).addTo(this.map);
    } else {
      createGridLayer().addTo(this.map);
      this.map.attributionControl.addAttribution("offline grid");
    }
    this.pins.addTo(this.map);
    this.trail.addTo(this.map);
    this.trucks = new TruckLayer(this.fleet, (truck) => this.selectTruck(truck));
    this.trucks.addTo(this.map);
    this.map.on("moveend", () => this.stream?.watch(this.bounds()));
  }

  /** The map is hidden: close the stream (a snapshot comes when it opens again) and stop the pins. */
  hide(): void {
    this.visible = false;
    this.stream?.stop();
    this.stream = undefined;
    clearInterval(this.pinsTimer);
    clearInterval(this.countsTimer);
    this.pinsTimer = undefined;
    this.countsTimer = undefined;
  }

  /** What the page's tests and a curious operator (devtools) can read: trucks with their positions. */
  snapshot() {
    return {
      trucks: [...this.fleet.values()]
        .filter((t) => Number.isFinite(t.lat))
        .map((t) => ({ driverId: t.driverId, lat: t.lat, lng: t.lng, state: truckStateName(t.state) })),
      batches: this.fleet.batches,
      streamsOpened: this.stream?.opened ?? 0,
      framesDrawn: this.trucks?.framesDrawn ?? 0,
      lastFrameMs: this.trucks?.lastFrameMs ?? 0,
      openBookings: this.openBookings,
    };
  }

  /** Shows a booking's breadcrumb and detail (the board's "show on map"), now or when the map is shown. */
  async showBooking(bookingId: string): Promise<void> {
    this.selection = { kind: "booking", id: bookingId };
    if (!this.visible) {
      this.pendingBooking = bookingId;
      return;
    }
    this.trucks.selected = undefined;
    this.trucks.changed();
    await this.loadBooking(bookingId, true);
  }

  /** Fits the map to the trucks it knows (those in the box watched). */
  fitTrucks(): void {
    const points = [...this.fleet.values()].filter((t) => Number.isFinite(t.lat)).map((t) => L.latLng(t.lat, t.lng));
    if (points.length > 0) this.map.fitBounds(L.latLngBounds(points).pad(0.2), { maxZoom: 16 });
  }

  private bounds() {
    const b = this.map.getBounds();
    return { south: b.getSouth(), west: b.getWest(), north: b.getNorth(), east: b.getEast() };
  }

  private tick(): void {
    this.renderLegend();
    if (this.selection?.kind === "truck") {
      const truck = this.fleet.get(this.selection.handle);
      if (truck) this.renderTruck(truck);
    }
  }

  private renderLegend(): void {
    const counts = this.fleet.counts();
    const numbers = [counts.free, counts.offered, counts.onTrip];
    replace(
      this.legend,
      h(
        "ul",
        {},
        ...TRUCK_STATES.map(({ label, state }, i) =>
          h(
            "li",
            { "data-state": label },
            h("span", { class: `swatch state-${state}` }),
            label,
            h("b", { class: "count" }, String(numbers[i])),
          ),
        ),
        h("li", {}, h("span", { class: "swatch pickup" }), "pickup", h("b", {}, String(this.openBookings))),
        h("li", {}, h("span", { class: "swatch drop" }), "drop", h("b", {}, "")),
      ),
      h("p", { class: "total" }, `${this.fleet.size} trucks in view`),
    );
  }

  private showStatus(status: FleetStatus): void {
    this.status.dataset.status = status.kind;
    this.status.textContent =
      status.kind === "live"
        ? "live"
        : status.kind === "retrying"
          ? `reconnecting in ${(status.inMs / 1000).toFixed(1)} s (${status.error})`
          : status.kind === "connecting"
            ? "connecting…"
            : "paused";
  }

  private async refreshPins(): Promise<void> {
    const rows: BookingRow[] = [];
    try {
      let pageToken = "";
      for (let page = 0; page < PINS_MAX_PAGES; page++) {
        const answer = await this.options.api.ops.searchBookings({
          statuses: [...OPEN_STATUSES],
          page: { pageSize: 100, pageToken },
        });
        rows.push(...answer.bookings);
        pageToken = answer.page?.nextPageToken ?? "";
        if (!pageToken) break;
      }
    } catch (error) {
      this.status.title = `open bookings: ${problem(error)}`;
      return;
    }
    this.pins.clearLayers();
    for (const row of rows) {
      const booking = row.booking;
      const pickup = booking?.pickup?.location;
      const drop = booking?.drop?.location;
      if (!booking || !pickup || !drop) continue;
      const open = (event: L.LeafletMouseEvent) => {
        L.DomEvent.stopPropagation(event);
        void this.showBooking(booking.id);
      };
      const label = `${shortId(booking.id)} · ${statusName(booking.status)}`;
      L.circleMarker([pickup.lat, pickup.lng], {
        renderer: this.renderer,
        radius: 6,
        className: "pin-pickup",
        color: "#0f766e",
        weight: 2,
        fillColor: "#5eead4",
        fillOpacity: 0.9,
      })
        .bindTooltip(`pickup ${label}`)
        .on("click", open)
        .addTo(this.pins);
      L.circleMarker([drop.lat, drop.lng], {
        renderer: this.renderer,
        radius: 6,
        color: "#9f1239",
        weight: 2,
        fillColor: "#fda4af",
        fillOpacity: 0.9,
      })
        .bindTooltip(`drop ${label}`)
        .on("click", open)
        .addTo(this.pins);
    }
    this.openBookings = rows.length;
  }

  private selectTruck(truck: TruckView): void {
    this.selection = { kind: "truck", handle: truck.handle };
    this.trucks.selected = truck.handle;
    this.trucks.changed();
    this.trail.clearLayers();
    this.renderTruck(truck);
    if (truck.bookingId) void this.loadBooking(truck.bookingId, false);
  }

  private renderTruck(truck: TruckView): void {
    const bookingLine = truck.bookingId
      ? h(
          "p",
          {},
          "on booking ",
          h("a", { href: `#bookings/${truck.bookingId}`, class: "booking-link" }, shortId(truck.bookingId)),
        )
      : null;
    const existing = this.detail.querySelector(".booking-summary");
    replace(
      this.detail,
      h(
        "div",
        { class: "truck-detail", "data-driver": truck.driverId },
        h("h3", {}, "Truck"),
        h(
          "dl",
          {},
          h("dt", {}, "state"),
          h("dd", {}, truckStateName(truck.state)),
          h("dt", {}, "driver"),
          h("dd", { class: "mono" }, truck.driverId),
          h("dt", {}, "vehicle"),
          h("dd", { class: "mono" }, `${truck.vehicleId} (${truck.vehicleType})`),
          h("dt", {}, "transporter"),
          h("dd", { class: "mono" }, truck.transporterId),
          h("dt", {}, "position"),
          h("dd", { class: "mono position" }, `${truck.lat.toFixed(5)}, ${truck.lng.toFixed(5)} · ${truck.heading}°`),
        ),
        bookingLine,
      ),
      existing,
    );
  }

  private async loadBooking(bookingId: string, fit: boolean): Promise<void> {
    let detail: GetBookingDetailResponse;
    try {
      detail = await this.options.api.ops.getBookingDetail({ bookingId });
    } catch (error) {
      this.detail.append(h("p", { class: "error" }, `booking ${shortId(bookingId)}: ${problem(error)}`));
      return;
    }
    const booking = detail.row?.booking;
    if (!booking) return;
    this.trail.clearLayers();
    const path = detail.path.flatMap((p) => (p.location ? [L.latLng(p.location.lat, p.location.lng)] : []));
    const ends = [booking.pickup?.location, booking.drop?.location].flatMap((l) => (l ? [L.latLng(l.lat, l.lng)] : []));
    if (path.length > 1)
      L.polyline(path, { renderer: this.renderer, color: "#7c3aed", weight: 4, opacity: 0.85 }).addTo(this.trail);
    if (ends.length === 2)
      L.polyline(ends, { renderer: this.renderer, color: "#6b7280", weight: 1.5, dashArray: "4 6" }).addTo(this.trail);
    if (fit) {
      const all = [...path, ...ends];
      if (all.length > 0) this.map.fitBounds(L.latLngBounds(all).pad(0.3), { maxZoom: 16 });
    }
    const summary = h(
      "div",
      { class: "booking-summary", "data-booking": booking.id },
      h("h3", {}, "Booking ", h("span", { class: "mono" }, shortId(booking.id))),
      h(
        "dl",
        {},
        h("dt", {}, "status"),
        h("dd", { class: `status status-${booking.status}` }, statusName(booking.status)),
        h("dt", {}, "customer"),
        h("dd", {}, detail.row?.customerPhone ?? "", detail.row?.customerName ? ` (${detail.row.customerName})` : ""),
        h("dt", {}, "route"),
        h("dd", {}, `${booking.pickup?.city ?? "?"} → ${booking.drop?.city ?? "?"}`),
        h("dt", {}, "driver"),
        h("dd", {}, detail.driver ? `${detail.driver.name || detail.driver.phone}` : "—"),
        h("dt", {}, "breadcrumb"),
        h("dd", {}, `${detail.path.length} points · ${distance(detail.pathDistanceM)}`),
        h("dt", {}, "created"),
        h("dd", {}, time(booking.createdAt as Timestamp | undefined)),
      ),
      h("button", { type: "button", onclick: () => this.options.openBooking(booking.id) }, "Open on the board"),
    );
    if (this.selection?.kind === "booking" && this.selection.id === bookingId) replace(this.detail, summary);
    else {
      this.detail.querySelector(".booking-summary")?.remove();
      this.detail.append(summary);
    }
  }
}

/** Leaflet shows attributions as HTML; the configured one is text. */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
