/** What the gateway tells the page about itself (/console/config.json, from its settings). */
export interface ConsoleConfig {
  /** Tile URL template ({z}/{x}/{y}); empty: the offline city grid. */
  tileUrl: string;
  /** Attribution of the tiles (HTML is not taken: shown as text). */
  tileAttribution: string;
  /** Where the map opens. */
  center: { lat: number; lng: number };
  zoom: number;
}

export async function loadConfig(): Promise<ConsoleConfig> {
  const response = await fetch("/console/config.json", { headers: { accept: "application/json" } });
  if (!response.ok) throw new Error(`/console/config.json answered ${response.status}`);
  return (await response.json()) as ConsoleConfig;
}
