/**
 * The map's background when no tile server is configured: a plain city grid drawn on canvas
 * tiles, with the latitude and longitude of its lines as labels. No network at all, so the
 * console works offline and in tests.
 */
import * as L from "leaflet";

/** Degrees between grid lines at a zoom: the finest step of 1-2-5 whose lines stay 64 px or more apart (room for a label). */
export function gridStep(zoom: number): number {
  const tileDegrees = 360 / 2 ** zoom;
  const steps = [0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10];
  return steps.find((step) => step >= tileDegrees / 4) ?? 10;
}

export function createGridLayer(): L.GridLayer {
  return new GridCanvas({ tileSize: 256, className: "grid-layer", maxZoom: 19 });
}

class GridCanvas extends L.GridLayer {
  protected override createTile(coords: L.Coords): HTMLElement {
    const tile = document.createElement("canvas");
    const ratio = window.devicePixelRatio || 1;
    tile.width = 256 * ratio;
    tile.height = 256 * ratio;
    const context = tile.getContext("2d");
    if (!context) return tile;
    context.scale(ratio, ratio);
    context.fillStyle = "#f3f1ea";
    context.fillRect(0, 0, 256, 256);
    const map = this._map;
    const northWest = map.unproject(L.point(coords.x * 256, coords.y * 256), coords.z);
    const southEast = map.unproject(L.point((coords.x + 1) * 256, (coords.y + 1) * 256), coords.z);
    const step = gridStep(coords.z);
    const toX = (lng: number) => map.project(L.latLng(northWest.lat, lng), coords.z).x - coords.x * 256;
    const toY = (lat: number) => map.project(L.latLng(lat, northWest.lng), coords.z).y - coords.y * 256;
    context.font = "10px system-ui, sans-serif";
    context.textBaseline = "top";
    const decimals = Math.max(0, Math.ceil(-Math.log10(step)));
    // Every fifth line a "main road": wider and darker.
    const isMain = (value: number) => Math.abs(Math.round(value / step) % 5) === 0;
    for (let lng = Math.ceil(northWest.lng / step) * step; lng < southEast.lng; lng += step) {
      const x = Math.round(toX(lng)) + 0.5;
      context.strokeStyle = isMain(lng) ? "#d5cfbf" : "#e6e2d6";
      context.lineWidth = isMain(lng) ? 3 : 1;
      context.beginPath();
      context.moveTo(x, 0);
      context.lineTo(x, 256);
      context.stroke();
      context.fillStyle = "#8a8474";
      context.fillText(`${lng.toFixed(decimals)}°E`, x + 3, 3);
    }
    for (let lat = Math.floor(northWest.lat / step) * step; lat > southEast.lat; lat -= step) {
      const y = Math.round(toY(lat)) + 0.5;
      context.strokeStyle = isMain(lat) ? "#d5cfbf" : "#e6e2d6";
      context.lineWidth = isMain(lat) ? 3 : 1;
      context.beginPath();
      context.moveTo(0, y);
      context.lineTo(256, y);
      context.stroke();
      context.fillStyle = "#8a8474";
      context.fillText(`${lat.toFixed(decimals)}°N`, 3, y + 3);
    }
    return tile;
  }
}
