/**
 * The operations console: login, then the live map, the bookings board, the dispatch funnel
 * with service health, the audit trail and users, one tab at a time (the address's #fragment
 * says which, so a link opens a booking).
 */
import type { ServiceHealth } from "@weelo/contracts/es/weelo/ops/v1/ops_pb";
import { ServiceStatus } from "@weelo/contracts/es/weelo/ops/v1/ops_pb";
import { type Api, createApi } from "./api.js";
import { AuditView } from "./audit-view.js";
import { BookingsView } from "./bookings-view.js";
import { type ConsoleConfig, loadConfig } from "./config.js";
import { h, replace } from "./dom.js";
import { FunnelView } from "./funnel-view.js";
import { loginPage } from "./login.js";
import { MapView } from "./map/map-view.js";
import { problem } from "./problem.js";
import { UsersView } from "./users-view.js";

type Tab = "map" | "bookings" | "funnel" | "audit" | "users";
const TABS: [Tab, string][] = [
  ["map", "Live map"],
  ["bookings", "Bookings"],
  ["funnel", "Funnel & health"],
  ["audit", "Audit"],
  ["users", "Users"],
];

interface Views {
  map: MapView;
  bookings: BookingsView;
  funnel: FunnelView;
  audit: AuditView;
  users: UsersView;
}

declare global {
  interface Window {
    /** What the browser test and an operator's devtools can read of the page. */
    weeloConsole?: { map(): ReturnType<MapView["snapshot"]> | undefined };
  }
}

async function start(): Promise<void> {
  const root = document.body;
  let config: ConsoleConfig;
  try {
    config = await loadConfig();
  } catch (error) {
    replace(root, h("p", { class: "error" }, `The console could not start: ${problem(error)}`));
    return;
  }
  let views: Views | undefined;
  const showLogin = () => {
    views?.map.hide();
    views?.funnel.stop();
    views = undefined;
    replace(
      root,
      loginPage(api, () => {
        views = showApp(root, api, config, () => void logout());
      }),
    );
  };
  const api: Api = createApi(() => showLogin());
  const logout = async () => {
    try {
      await api.weelo.logout();
    } finally {
      showLogin();
    }
  };
  window.weeloConsole = { map: () => views?.map.snapshot() };
  if (await api.weelo.session.accessToken()) views = showApp(root, api, config, () => void logout());
  else showLogin();
}

function showApp(root: HTMLElement, api: Api, config: ConsoleConfig, logout: () => void): Views {
  const healthSummary = h("span", { class: "health-summary", title: "service health" }, "health …");
  const onHealth = (services: ServiceHealth[] | undefined) => {
    if (!services) {
      healthSummary.textContent = "health unknown";
      healthSummary.dataset.state = "unknown";
      return;
    }
    const serving = services.filter((s) => s.status === ServiceStatus.SERVING).length;
    healthSummary.textContent = `${serving}/${services.length} services serving`;
    healthSummary.dataset.state = serving === services.length ? "ok" : "degraded";
  };
  const views: Views = {} as Views;
  const go = (tab: Tab, detail?: string) => {
    location.hash = detail ? `${tab}/${detail}` : tab;
  };
  views.map = new MapView({ api, config, openBooking: (id) => go("bookings", id) });
  views.bookings = new BookingsView({
    api,
    showOnMap: (id) => {
      go("map");
      void views.map.showBooking(id);
    },
    findUser: (phone) => {
      go("users");
      void views.users.lookUp(phone);
    },
  });
  views.funnel = new FunnelView(api, onHealth);
  views.audit = new AuditView(api);
  views.users = new UsersView(api);
  const tabs = TABS.map(([tab, label]) => h("a", { href: `#${tab}`, class: "tab", "data-tab": tab }, label));
  const main = h("main", { class: "app-main" }, ...TABS.map(([tab]) => views[tab].element));
  replace(
    root,
    h(
      "header",
      { class: "app-header" },
      h("span", { class: "brand" }, "Weelo ops"),
      h("nav", {}, ...tabs),
      healthSummary,
      h("button", { type: "button", class: "logout", onclick: logout }, "Log out"),
    ),
    main,
  );
  let shown: Tab | undefined;
  const route = () => {
    const [name = "map", detail] = location.hash.replace(/^#/, "").split("/");
    const tab = (TABS.some(([t]) => t === name) ? name : "map") as Tab;
    for (const [t] of TABS) views[t].element.hidden = t !== tab;
    for (const link of tabs) link.classList.toggle("active", link.dataset.tab === tab);
    if (shown === "map" && tab !== "map") views.map.hide();
    if (tab !== shown) views[tab].show();
    shown = tab;
    if (tab === "bookings" && detail) void views.bookings.open(detail);
  };
  window.onhashchange = route;
  route();
  views.funnel.start();
  return views;
}

void start();
