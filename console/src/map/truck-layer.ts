/**
 * The trucks on one canvas over the map: thousands of dots drawn in three paths (one per state
 * colour) per frame, with the Web Mercator projection computed inline (no Leaflet point per
 * truck per frame), so 10k moving trucks stay smooth. Frames are drawn only while something
 * changes: a batch arrived, trucks glide, the map moved. A click picks the nearest truck
 * within a few pixels.
 */
import * as L from "leaflet";
import type { FleetState, TruckView } from "../fleet-state.js";
import { TRUCK_STATES } from "../format.js";

const RADIANS = Math.PI / 180;

export class TruckLayer extends L.Layer {
  private canvas: HTMLCanvasElement | undefined;
  private context: CanvasRenderingContext2D | null = null;
  private frame = 0;
  private topLeft = L.point(0, 0);
  /** Handle of the truck drawn with a ring (the one whose detail is shown). */
  selected: number | undefined;
  /** Frames drawn since the page opened (the tests and the status line read it). */
  framesDrawn = 0;
  lastFrameMs = 0;

  constructor(
    private readonly fleet: FleetState,
    private readonly onPick: (truck: TruckView) => void,
  ) {
    super();
  }

  override onAdd(map: L.Map): this {
    this.canvas = L.DomUtil.create("canvas", "truck-layer leaflet-zoom-hide");
    this.context = this.canvas.getContext("2d");
    map.getPanes().overlayPane.appendChild(this.canvas);
    map.on("moveend resize viewreset zoomend", this.reset, this);
    map.on("click", this.pick, this);
    this.reset();
    return this;
  }

  override onRemove(map: L.Map): this {
    map.off("moveend resize viewreset zoomend", this.reset, this);
    map.off("click", this.pick, this);
    cancelAnimationFrame(this.frame);
    this.canvas?.remove();
    this.canvas = undefined;
    return this;
  }

  /** Something changed: draw a frame soon (and keep drawing while trucks glide). */
  changed(): void {
    if (!this.frame && this.canvas) this.frame = requestAnimationFrame(() => this.draw());
  }

  private reset(): void {
    const map = this._map;
    if (!map || !this.canvas) return;
    const size = map.getSize();
    const ratio = window.devicePixelRatio || 1;
    this.topLeft = map.containerPointToLayerPoint([0, 0]);
    L.DomUtil.setPosition(this.canvas, this.topLeft);
    if (this.canvas.width !== size.x * ratio || this.canvas.height !== size.y * ratio) {
      this.canvas.width = size.x * ratio;
      this.canvas.height = size.y * ratio;
      this.canvas.style.width = `${size.x}px`;
      this.canvas.style.height = `${size.y}px`;
    }
    this.changed();
  }

  /** Pixel of a position on the canvas at the map's current zoom (Web Mercator, as EPSG:3857). */
  private projector(): (lat: number, lng: number) => [number, number] {
    const map = this._map;
    const scale = 256 * 2 ** map.getZoom();
    const origin = map.getPixelOrigin();
    const dx = origin.x + this.topLeft.x;
    const dy = origin.y + this.topLeft.y;
    return (lat, lng) => {
      const sin = Math.sin(Math.max(-85.0511287798, Math.min(85.0511287798, lat)) * RADIANS);
      const x = ((lng + 180) / 360) * scale;
      const y = (0.5 - Math.log((1 + sin) / (1 - sin)) / (4 * Math.PI)) * scale;
      return [x - dx, y - dy];
    };
  }

  private draw(): void {
    this.frame = 0;
    const map = this._map;
    const context = this.context;
    if (!map || !context || !this.canvas) return;
    const started = performance.now();
    const now = Date.now();
    const ratio = window.devicePixelRatio || 1;
    const width = this.canvas.width / ratio;
    const height = this.canvas.height / ratio;
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, width, height);
    const zoom = map.getZoom();
    const radius = zoom >= 15 ? 5 : zoom >= 13 ? 4 : zoom >= 11 ? 3 : 2;
    const project = this.projector();
    let selected: [number, number] | undefined;
    for (const { state, colour } of TRUCK_STATES) {
      context.beginPath();
      for (const truck of this.fleet.values()) {
        if (truck.state !== state || !Number.isFinite(truck.lat)) continue;
        const [lat, lng] = this.fleet.positionAt(truck, now);
        const [x, y] = project(lat, lng);
        if (x < -radius || y < -radius || x > width + radius || y > height + radius) continue;
        context.moveTo(x + radius, y);
        context.arc(x, y, radius, 0, 2 * Math.PI);
        if (truck.handle === this.selected) selected = [x, y];
      }
      context.fillStyle = colour;
      context.fill();
    }
    if (selected) {
      context.beginPath();
      context.arc(selected[0], selected[1], radius + 5, 0, 2 * Math.PI);
      context.lineWidth = 2.5;
      context.strokeStyle = "#111827";
      context.stroke();
    }
    this.framesDrawn += 1;
    this.lastFrameMs = performance.now() - started;
    if (this.fleet.gliding(now)) this.changed();
  }

  /** The truck nearest to a click, within 8 px. */
  private pick(event: L.LeafletMouseEvent): void {
    const project = this.projector();
    const now = Date.now();
    const click = event.containerPoint;
    let best: TruckView | undefined;
    let bestDistance = 8 * 8;
    for (const truck of this.fleet.values()) {
      if (!Number.isFinite(truck.lat)) continue;
      const [lat, lng] = this.fleet.positionAt(truck, now);
      const [x, y] = project(lat, lng);
      const d = (x - click.x) ** 2 + (y - click.y) ** 2;
      if (d < bestDistance) {
        best = truck;
        bestDistance = d;
      }
    }
    if (best) this.onPick(best);
  }
}
