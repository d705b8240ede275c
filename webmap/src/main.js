// Kansenkaart Flexwonen — the web map.
//
// Leaflet draws the basemap (PDOK BRT-Achtergrondkaart, URL from GET /api/config) and handles
// panning, zooming and the keyboard; MapLibre GL (through @maplibre/maplibre-gl-leaflet) draws the
// municipality-scoped vector tiles of the api. Every filter changes the tile URLs, so the server
// decides what is drawn; nothing is hidden in the browser.

import "leaflet/dist/leaflet.css";
import "maplibre-gl/dist/maplibre-gl.css";
import "./styles.css";

import L from "leaflet";
import maplibregl from "maplibre-gl";
import "@maplibre/maplibre-gl-leaflet";

import { ApiError, absoluteUrl, api, readCookie } from "./modules/api.js";
import { closeBusinessCase, renderBusinessCaseEntry } from "./modules/businesscase.js";
import { renderStability } from "./modules/stability.js";
import { $, h } from "./modules/dom.js";
import { closeMatch, toggleMatch } from "./modules/match.js";
import { renderSite, renderWhy, tierBadge } from "./modules/panel.js";
import {
  OVERVIEW_COLORS,
  OVERVIEW_LEAFLET_ZOOM,
  SITE_LAYERS,
  TIER_COLORS,
  applyPaletteToCss,
  buildStyle,
  clickableLayerIds,
  overviewBreaks,
  overviewColor,
} from "./modules/style.js";
import { LAYER_EXPLANATIONS, LAYER_NAMES, MSG, ROLE_NAMES, TIERS, formatDate, formatNumber, homes } from "./modules/text.js";
import { createOrientation } from "./modules/orientation.js";
import { createProgress } from "./modules/progress.js";
import { wireSearch } from "./modules/search.js";
import { createSiteList } from "./modules/sitelist.js";
import { renderStatus } from "./modules/status.js";
import { clearHash, readHash, writeHash } from "./modules/urlstate.js";

const DEFAULT_CONFIG = {
  basemap_url: "https://service.pdok.nl/brt/achtergrondkaart/wmts/v2_0/standaard/EPSG:3857/{z}/{x}/{y}.png",
  basemap_attribution: "Kaartgegevens &copy; Kadaster (BRT-Achtergrondkaart)",
};
const FILTER_KEYS = ["min_score", "min_capacity", "owner_class", "gemeente", "tier"];
// The default view: tiers A and B; C–E on demand.
const DEFAULT_TIERS = ["A", "B"];
const freshFilters = () => ({ min_score: 0, min_capacity: 0, owner_class: "", gemeente: "", tiers: [...DEFAULT_TIERS] });

// Test and debugging hook: the MapLibre map, the Leaflet map and what the page has seen.
const kk = (window.__kk = { map: null, leaflet: null, errors: [], state: null, ready: false, basemap: "none" });
applyPaletteToCss(document.documentElement);

const state = {
  config: DEFAULT_CONFIG,
  me: null,
  layers: [], // TileJSON of the site layers
  gemeenten: null, // GeoJSON of the municipalities in scope
  filters: freshFilters(),
  visible: {},
  outline: null,
  progressMode: false,
  map: null,
  glLayer: null,
  gl: null,
  basemap: null,
  whyMarker: null,
  selected: null,
  panelRequest: 0,
};
kk.state = state;

// ---------------------------------------------------------------- start

// The working-tool modules (search, list, progress) talk to the map through this context.
const ctx = {
  state,
  openSite: (layer, id, opts) => openSite(layer, id, opts),
  whyAtPlace: (latlng) => {
    if (state.map) state.map.setView([latlng.lat, latlng.lng], Math.max(state.map.getZoom(), 16), { animate: false });
    whyAt(latlng, { focus: true });
  },
  filterQuery: () => filterParams().toString(),
  setProgressColours,
  toOverview: () => {
    if (!state.map) return;
    state.map.fitBounds(scopeBounds(), { padding: [16, 16], animate: false });
    if (state.map.getZoom() >= OVERVIEW_LEAFLET_ZOOM) state.map.setZoom(OVERVIEW_LEAFLET_ZOOM - 1, { animate: false });
  },
  changed: () => saveHash(),
};
let siteList = null;
let progress = null;

async function start() {
  wireLogin();
  wireStatic();
  wireSearch(ctx);
  siteList = createSiteList(ctx);
  progress = createProgress(ctx);
  document.addEventListener("kk-status", () => {
    loadGone();
    siteList.refresh();
  });
  try {
    state.config = { ...DEFAULT_CONFIG, ...(await api("/api/config")) };
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 404) console.warn("config", err);
  }
  // Without the readable CSRF cookie there is no session: show the login form straight away
  // (asking /api/me would only produce a 401 in the console).
  if (!readCookie("kk_csrf")) {
    showLogin();
    return;
  }
  try {
    const me = await api("/api/me");
    await showMap(me);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      showLogin(MSG.sessionExpired); // a CSRF cookie but no live session: it expired
    } else {
      showLogin(MSG.serverDown);
    }
  }
}

// ---------------------------------------------------------------- login / logout

function showLogin(message = "") {
  $("map-view").hidden = true;
  $("user-box").hidden = true;
  $("login-view").hidden = false;
  $("login-error").textContent = message;
  $("login-password").value = "";
  $("login-email").focus();
}

function wireLogin() {
  const form = $("login-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const email = $("login-email").value.trim();
    const password = $("login-password").value;
    const error = $("login-error");
    if (!email || !password) {
      error.textContent = MSG.missingLogin;
      return;
    }
    const button = $("login-submit");
    button.disabled = true;
    error.textContent = "";
    try {
      const result = await api("/api/auth/login", { method: "POST", body: { email, password } });
      $("login-password").value = "";
      await showMap(result.user || (await api("/api/me")));
    } catch (err) {
      $("login-password").value = "";
      if (err instanceof ApiError && err.status === 401) error.textContent = MSG.badLogin;
      else if (err instanceof ApiError && err.status === 429) {
        const retry = (err.body && err.body.error && err.body.error.retry_after) || 60;
        error.textContent = MSG.throttled(retry);
      } else if (err instanceof ApiError && err.status === 0) error.textContent = MSG.serverDown;
      else error.textContent = MSG.loginFailed(err.status || "?");
      $("login-password").focus();
    } finally {
      button.disabled = false;
    }
  });

  $("logout-button").addEventListener("click", async () => {
    try {
      await api("/api/auth/logout", { method: "POST" });
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401) console.warn("logout", err);
    }
    teardownMap();
    showLogin("U bent uitgelogd.");
  });
}

function sessionExpired() {
  teardownMap();
  showLogin(MSG.sessionExpired);
}

// ---------------------------------------------------------------- the map

async function showMap(me) {
  state.me = me;
  let layers;
  let gemeenten;
  try {
    [layers, gemeenten] = await Promise.all([api("/api/layers"), api("/api/gemeenten")]);
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) {
      // Logged in, but this role sees no scan data (e.g. beheerder): say so, offer logout.
      showLogin(MSG.noMapAccess(ROLE_NAMES[me.role] || me.role));
      $("user-box").hidden = false;
      $("user-name").textContent = `${me.email} (${ROLE_NAMES[me.role] || me.role})`;
      return;
    }
    throw err;
  }
  state.layers = (layers.layers || []).filter((l) => SITE_LAYERS.includes(l.id));
  state.gemeenten = gemeenten && gemeenten.type === "FeatureCollection" ? gemeenten : { type: "FeatureCollection", features: [] };
  for (const l of state.layers) if (!(l.id in state.visible)) state.visible[l.id] = true;

  $("login-view").hidden = true;
  $("map-view").hidden = false;
  $("user-box").hidden = false;
  $("user-name").textContent = `${me.email} (${ROLE_NAMES[me.role] || me.role})`;
  $("mark-synthetic").hidden = !me.synthetic;
  $("run-info").textContent = me.run
    ? `Scan ${String(me.run.run_id || "").slice(0, 8)} van ${formatDate(me.run.finished_at)}.`
    : "";
  // A shared link (the state after "#"): applied only now, after login, and only within scope.
  const wanted = readHash();
  applyWanted(wanted, me);

  fillGemeenteSelects();
  renderOverviewTable();
  renderLayerList();
  renderLegends();
  createMap(wanted);
  kk.ready = true;
  loadGone();
  if (wanted.selected) openSite(wanted.selected.layerId, wanted.selected.siteId, { zoom: !wanted.view });
  if (wanted.progress) progress.open();
}

function applyWanted(wanted, me) {
  const codes = new Set((me.gemeenten || []).map((g) => g.code));
  if (wanted.gemeente && codes.has(wanted.gemeente)) state.filters.gemeente = wanted.gemeente;
  if (wanted.tiers) state.filters.tiers = wanted.tiers;
  if (wanted.min_score !== undefined) state.filters.min_score = wanted.min_score;
  if (wanted.min_capacity !== undefined) state.filters.min_capacity = wanted.min_capacity;
  if (wanted.owner_class) state.filters.owner_class = wanted.owner_class;
  if (wanted.layers) for (const l of state.layers) state.visible[l.id] = wanted.layers.includes(l.id);
  $("filter-min-score").value = String(state.filters.min_score);
  $("filter-min-score-out").textContent = String(state.filters.min_score);
  $("filter-min-capacity").value = String(state.filters.min_capacity);
  $("filter-owner").value = state.filters.owner_class;
  for (const cb of document.querySelectorAll("#tier-filter input")) cb.checked = state.filters.tiers.includes(cb.value);
  renderLayerList();
}

let hashTimer = null;
function saveHash() {
  clearTimeout(hashTimer);
  hashTimer = setTimeout(() => state.me && writeHash(state), 200);
}

/** Statuses of sites the current scan no longer has ("niet meer in de scan"). */
async function loadGone() {
  try {
    const answer = await api("/api/statuses");
    const gone = (answer.statuses || []).filter((s) => !s.in_scan);
    $("gone-box").hidden = gone.length === 0;
    $("gone-list").replaceChildren(
      ...gone.map((s) =>
        h("li", {}, h("button", { type: "button", class: "link-button", onclick: () => openSite(s.layer, s.site_id, { zoom: true, focus: true }) }, `${s.label || s.site_id}: ${s.status_text}`)),
      ),
    );
  } catch {
    $("gone-box").hidden = true;
  }
}

/** The municipalities coloured by progress (on), or by A+B capacity again (off). */
function setProgressColours(on, colours) {
  if (!state.gl || !state.gl.isStyleLoaded()) return;
  const source = state.gl.getSource("gemeenten");
  if (source && source.setData) source.setData(state.gemeenten);
  state.gl.setPaintProperty(
    "gemeenten-fill",
    "fill-color",
    on ? ["match", ["coalesce", ["get", "fase"], 0], 1, colours[1], 2, colours[2], 3, colours[3], colours[0]] : overviewColor(state.breaks),
  );
}

function teardownMap() {
  closePanel();
  closeBusinessCase();
  closeMatch();
  if (state.map) state.map.remove();
  state.map = state.glLayer = state.gl = state.basemap = state.whyMarker = state.tooltip = state.outline = null;
  state.me = null;
  kk.map = kk.leaflet = null;
  kk.ready = false;
  $("mark-synthetic").hidden = true;
  $("basemap-notice").hidden = true;
  // The next user starts fresh: no filters, layer choices, list, search or scroll position of
  // the previous one, and no map state in the address bar.
  state.filters = freshFilters();
  state.visible = {};
  state.progressMode = false;
  $("filter-form").reset();
  for (const cb of document.querySelectorAll("#tier-filter input")) cb.checked = DEFAULT_TIERS.includes(cb.value);
  $("sidebar").scrollTop = 0;
  $("search-input").value = "";
  $("search-results").replaceChildren();
  $("search-status").textContent = "";
  $("gone-list").replaceChildren();
  $("gone-box").hidden = true;
  $("progress-drawer").hidden = true;
  if (siteList) siteList.reset();
  clearHash();
  $("filter-min-score-out").textContent = "0";
  setFilterStatus("");
  $("inview-list").replaceChildren();
}

function createMap(wanted = {}) {
  teardownMapOnly();
  const map = L.map("map", {
    zoomControl: true,
    attributionControl: true,
    minZoom: 7,
    maxZoom: 19,
    keyboard: true,
    boxZoom: true,
  });
  state.map = map;
  kk.leaflet = map;
  map.attributionControl.setPrefix(false);
  addBasemap(map);

  const breaks = overviewBreaks(state.gemeenten.features.map((f) => Number(f.properties.capacity_ab)));
  state.breaks = breaks;
  renderOverviewLegend(breaks);

  // First view: a shared link's view; else per role — province roles start at the overview of
  // every municipality, a policy maker at their municipality with its sites.
  if (wanted.view) {
    map.setView([wanted.view.lat, wanted.view.lng], wanted.view.zoom, { animate: false });
  } else if (state.filters.gemeente && gemeenteBounds(state.filters.gemeente)) {
    map.fitBounds(gemeenteBounds(state.filters.gemeente), { padding: [16, 16], animate: false });
  } else {
    map.fitBounds(scopeBounds(), { padding: [16, 16], animate: false });
    if (state.me.province) {
      if (map.getZoom() >= OVERVIEW_LEAFLET_ZOOM) map.setZoom(OVERVIEW_LEAFLET_ZOOM - 1, { animate: false });
    } else if (map.getZoom() < OVERVIEW_LEAFLET_ZOOM) {
      map.setZoom(OVERVIEW_LEAFLET_ZOOM, { animate: false });
    }
  }
  state.orientation = createOrientation(map);
  if (!state.config.basemap_url) state.orientation.enable();

  const style = buildStyle(
    state.layers.map((l) => ({ ...l, tiles: [tileUrl(l)] })),
    state.gemeenten,
    breaks,
  );
  // The vector layers get their own pane: above the basemap tiles (tilePane, z 200), below the
  // "why not" marker (overlayPane, z 400).
  const pane = map.createPane("sitesPane");
  pane.style.zIndex = "350";
  const glLayer = L.maplibreGL({ style, pane: "sitesPane", interactive: false, attributionControl: false, fadeDuration: 0 });
  glLayer.addTo(map);
  state.glLayer = glLayer;
  const gl = glLayer.getMaplibreMap();
  state.gl = gl;
  kk.map = gl;
  gl.on("error", (e) => {
    const status = e && e.error && e.error.status;
    kk.errors.push(String((e && e.error && e.error.message) || e));
    if (status === 401) sessionExpired();
    else setFilterStatus(MSG.tilesFailed);
  });
  gl.on("load", () => {
    applyVisibility();
    applyFilters();
    updateZoomHint();
  });
  gl.on("idle", scheduleInView);

  map.on("click", onMapClick);
  map.on("zoomend", updateZoomHint);
  map.on("moveend", () => {
    saveHash();
    if (!$("list-drawer").hidden && $("list-scope").value === "view") siteList.refresh();
  });
  map.on("mousemove", onMouseMove);
  map.on("keypress", (e) => {
    // Enter on the map itself (not on a zoom button inside it): "waarom hier niet?" for the centre.
    if (e.originalEvent.key === "Enter" && e.originalEvent.target === map.getContainer()) whyAt(map.getCenter(), { focus: true });
  });
  updateZoomHint();
}

function teardownMapOnly() {
  if (state.map) {
    state.map.remove();
    state.map = null;
  }
}

function addBasemap(map) {
  const url = state.config.basemap_url;
  const container = map.getContainer();
  if (!url) {
    container.classList.add("plain-basemap");
    kk.basemap = "plain";
    return;
  }
  container.classList.remove("plain-basemap");
  const layer = L.tileLayer(url, {
    attribution: state.config.basemap_attribution || "",
    maxZoom: 19,
    maxNativeZoom: 19,
    crossOrigin: false,
  });
  // Offline (no tile ever loaded) → plain at the first error; a flaky line → plain after a few.
  let failed = false;
  let loaded = 0;
  let errors = 0;
  layer.on("tileload", () => {
    loaded += 1;
  });
  layer.on("tileerror", () => {
    errors += 1;
    if (failed || (loaded > 0 && errors < 5)) return;
    failed = true;
    map.removeLayer(layer);
    container.classList.add("plain-basemap");
    kk.basemap = "plain";
    const notice = $("basemap-notice");
    notice.textContent = MSG.basemapDown;
    notice.hidden = false;
    if (state.orientation) state.orientation.enable();
  });
  layer.on("load", () => {
    if (!failed) kk.basemap = "tiles";
  });
  layer.addTo(map);
  state.basemap = layer;
  kk.basemap = "loading";
}

function scopeBounds() {
  const features = state.gemeenten.features.filter((f) => f.geometry);
  if (features.length) return L.geoJSON({ type: "FeatureCollection", features }).getBounds();
  const b = state.layers.map((l) => l.bounds).find(Boolean) || [3.8, 51.7, 5.0, 52.35];
  return L.latLngBounds([b[1], b[0]], [b[3], b[2]]);
}

function gemeenteBounds(code) {
  const features = state.gemeenten.features.filter((f) => f.properties.gemeentecode === code && f.geometry);
  return features.length ? L.geoJSON({ type: "FeatureCollection", features }).getBounds() : null;
}

// ---------------------------------------------------------------- filters → tile URLs

/** The layer's tile URL with the current filters as query (the server applies them). */
function tileUrl(layer) {
  const template = layer.tiles[0];
  const [path, query = ""] = template.split("?");
  const params = new URLSearchParams(query);
  for (const key of FILTER_KEYS) params.delete(key);
  const f = state.filters;
  if (Number(f.min_score) > 0) params.set("min_score", String(f.min_score));
  if (Number(f.min_capacity) > 0) params.set("min_capacity", String(f.min_capacity));
  if (f.owner_class) params.set("owner_class", f.owner_class);
  if (f.gemeente) params.append("gemeente", f.gemeente);
  for (const t of f.tiers || []) params.append("tier", t);
  const q = params.toString();
  return absoluteUrl(path) + (q ? `?${q}` : "");
}

/** The current filters as the api's query (tiles, lists, downloads). */
function filterParams() {
  const params = new URLSearchParams();
  const f = state.filters;
  if (Number(f.min_score) > 0) params.set("min_score", String(f.min_score));
  if (Number(f.min_capacity) > 0) params.set("min_capacity", String(f.min_capacity));
  if (f.owner_class) params.set("owner_class", f.owner_class);
  if (f.gemeente) params.append("gemeente", f.gemeente);
  for (const t of f.tiers || []) params.append("tier", t);
  return params;
}

function applyFilters() {
  if (!state.gl || !state.gl.isStyleLoaded()) return;
  for (const layer of state.layers) {
    const source = state.gl.getSource(layer.id);
    const url = tileUrl(layer);
    if (source && source.setTiles && !(source.tiles && source.tiles[0] === url)) source.setTiles([url]);
  }
  const f = state.filters;
  const parts = [];
  if (Number(f.min_score) > 0) parts.push(`score ≥ ${f.min_score}`);
  if (Number(f.min_capacity) > 0) parts.push(`≥ ${homes(f.min_capacity)}`);
  if (f.owner_class) parts.push(`eigenaar: ${$("filter-owner").selectedOptions[0].textContent.toLowerCase()}`);
  if (f.gemeente) parts.push(`gemeente: ${gemeenteName(f.gemeente)}`);
  const tiers = f.tiers || [];
  const standard = tiers.join("") === DEFAULT_TIERS.join("");
  if (!standard && tiers.length < 5) parts.push(tiers.length ? `klasse ${tiers.join(", ")}` : "geen klasse gekozen");
  setFilterStatus(
    parts.length
      ? `Filter actief: ${parts.join(", ")}.`
      : standard
        ? "Geen filter: de standaardweergave toont klasse A en B; zet C–E aan bij Klassen."
        : "Geen filter: alle locaties worden getoond.",
  );
  saveHash();
  if (siteList) siteList.refresh();
  state.gl.setFilter("gemeenten-selected", ["==", ["get", "gemeentecode"], f.gemeente || ""]);
}

function setFilterStatus(text) {
  $("filter-status").textContent = text;
}

let filterTimer = null;
function wireStatic() {
  const form = $("filter-form");
  const score = $("filter-min-score");
  const capacity = $("filter-min-capacity");
  const owner = $("filter-owner");
  const update = (delay) => {
    state.filters.min_score = Number(score.value) || 0;
    state.filters.min_capacity = Math.max(0, Math.floor(Number(capacity.value) || 0));
    state.filters.owner_class = owner.value;
    state.filters.tiers = [...document.querySelectorAll("#tier-filter input:checked")].map((cb) => cb.value);
    $("filter-min-score-out").textContent = String(state.filters.min_score);
    clearTimeout(filterTimer);
    filterTimer = setTimeout(applyFilters, delay);
  };
  score.addEventListener("input", () => update(250));
  capacity.addEventListener("input", () => update(400));
  owner.addEventListener("change", () => update(0));
  for (const cb of document.querySelectorAll("#tier-filter input")) cb.addEventListener("change", () => update(0));
  form.addEventListener("submit", (e) => e.preventDefault());
  form.addEventListener("reset", () =>
    setTimeout(() => {
      for (const cb of document.querySelectorAll("#tier-filter input")) cb.checked = DEFAULT_TIERS.includes(cb.value);
      update(0);
    }, 0),
  );

  $("gemeente-select").addEventListener("change", (e) => selectGemeente(e.target.value));
  $("export-select").addEventListener("change", updateExportLink);
  $("token-create").addEventListener("click", createQgisToken);
  $("legend-toggle").addEventListener("click", (e) => {
    const open = e.currentTarget.getAttribute("aria-expanded") !== "true";
    e.currentTarget.setAttribute("aria-expanded", String(open));
    e.currentTarget.textContent = open ? "Verbergen" : "Tonen";
    $("legend-body").hidden = !open;
  });
  $("match-toggle").addEventListener("click", async (e) => {
    if (!state.map) return;
    const button = e.currentTarget;
    const shown = await toggleMatch(state.map, { onExpired: sessionExpired });
    button.setAttribute("aria-pressed", String(shown));
    button.textContent = shown ? "Verberg treintjes" : "Toon treintjes";
  });
  $("why-center").addEventListener("click", () => state.map && whyAt(state.map.getCenter(), { focus: true }));
  $("panel-close").addEventListener("click", () => {
    closePanel();
    $("map").focus();
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && $("panel").dataset.state === "open") {
      closePanel();
      $("map").focus();
    }
  });
}

function selectGemeente(code) {
  state.filters.gemeente = code;
  // The tile URLs first, then the move: no tile of the new view is asked with the old filter.
  applyFilters();
  if (state.map) {
    const bounds = code ? gemeenteBounds(code) : scopeBounds();
    if (bounds && bounds.isValid()) {
      state.map.fitBounds(bounds, { padding: [16, 16], animate: false });
      // One municipality: show its sites (they appear from the overview zoom level on).
      if (code && state.map.getZoom() < OVERVIEW_LEAFLET_ZOOM) state.map.setZoom(OVERVIEW_LEAFLET_ZOOM, { animate: false });
    }
  }
  if (code && state.me.can_export) {
    $("export-select").value = code;
    updateExportLink();
  }
}

function gemeenteName(code) {
  const g = (state.me.gemeenten || []).find((x) => x.code === code);
  return g ? g.naam : code;
}

function fillGemeenteSelects() {
  const list = [...(state.me.gemeenten || [])].sort((a, b) => a.naam.localeCompare(b.naam, "nl"));
  const select = $("gemeente-select");
  select.replaceChildren(
    h("option", { value: "" }, list.length === 1 ? list[0].naam : `Al mijn gemeenten (${list.length})`),
    ...(list.length > 1 ? list.map((g) => h("option", { value: g.code }, g.naam)) : []),
  );
  select.value = state.filters.gemeente || "";
  $("qgis-box").hidden = state.me.role === "beheerder";
  const exportBox = $("export-box");
  exportBox.hidden = !state.me.can_export;
  if (state.me.can_export) {
    $("export-select").replaceChildren(...list.map((g) => h("option", { value: g.code }, `${g.naam} (${g.code})`)));
    updateExportLink();
  }
}

/** The overview as a table too (a text alternative to the choropleth); names zoom to it. */
function renderOverviewTable() {
  const rows = state.gemeenten.features
    .map((f) => f.properties)
    .sort((a, b) => Number(b.capacity_ab) - Number(a.capacity_ab) || String(a.gemeentenaam).localeCompare(String(b.gemeentenaam), "nl"));
  $("overview-box").hidden = rows.length < 2;
  $("overview-rows").replaceChildren(
    ...rows.map((g) =>
      h(
        "tr",
        {},
        h(
          "td",
          {},
          h(
            "button",
            {
              type: "button",
              class: "link-button",
              onclick: () => {
                $("gemeente-select").value = g.gemeentecode;
                selectGemeente(g.gemeentecode);
              },
            },
            g.gemeentenaam || g.gemeentecode,
          ),
        ),
        h("td", { class: "num" }, formatNumber(g.capacity_ab, 0)),
      ),
    ),
  );
}

/** A personal API token for QGIS (HTTP Basic: e-mail + token), shown once. */
async function createQgisToken() {
  const button = $("token-create");
  button.disabled = true;
  $("token-error").hidden = true;
  try {
    const created = await api("/api/tokens", { method: "POST", body: { name: "QGIS (kaart)" } });
    $("token-value").value = created.token;
    $("token-user").textContent = state.me.email;
    $("token-ogc").textContent = `${window.location.origin}/api/ogc`;
    $("token-result").hidden = false;
    $("token-value").focus();
    $("token-value").select();
  } catch (err) {
    $("token-error").textContent = `Het token kon niet worden gemaakt: ${err.message}`;
    $("token-error").hidden = false;
  } finally {
    button.disabled = false;
  }
}

function updateExportLink() {
  const code = $("export-select").value;
  const link = $("export-link");
  link.href = code ? `/api/export/${encodeURIComponent(code)}.gpkg` : "#";
  link.setAttribute("download", code ? `kansenkaart_${code}.gpkg` : "");
}

// ---------------------------------------------------------------- layers and legends

function renderLayerList() {
  const fieldset = $("layer-list");
  const legend = fieldset.querySelector("legend");
  fieldset.replaceChildren(
    legend,
    ...state.layers.map((l) => {
      const id = `layer-toggle-${l.id}`;
      return h(
        "div",
        { class: "layer-item" },
        h("input", {
          type: "checkbox",
          id,
          checked: state.visible[l.id] !== false,
          onchange: (e) => {
            state.visible[l.id] = e.target.checked;
            applyVisibility();
            saveHash();
          },
        }),
        h("label", { for: id }, symbol(l.id), " ", LAYER_NAMES[l.id] || l.name || l.id),
        h("p", { class: "muted small layer-expl" }, LAYER_EXPLANATIONS[l.id] || ""),
      );
    }),
  );
}

function symbol(layerId) {
  return h("span", { class: `symbol symbol-${layerId}`, "aria-hidden": "true" });
}

function applyVisibility() {
  if (!state.gl || !state.gl.isStyleLoaded()) return;
  for (const l of state.layers) {
    const vis = state.visible[l.id] !== false ? "visible" : "none";
    for (const suffix of ["fill", "line", "circle", "selected"]) {
      const id = `${l.id}-${suffix}`;
      if (state.gl.getLayer(id)) state.gl.setLayoutProperty(id, "visibility", vis);
    }
  }
}

function renderLegends() {
  $("legend-sites").replaceChildren(
    h("p", { class: "legend-intro" }, "Kansrijkheid: score 0–100 uit de criteria, in vijf klassen."),
    h(
      "ul",
      { class: "legend-list" },
      TIERS.map((t) =>
        h(
          "li",
          {},
          h("span", { class: `swatch tier-${t.tier}`, style: { background: TIER_COLORS[t.tier] }, "aria-hidden": "true" }, t.tier),
          h("span", {}, h("strong", {}, `${t.name}`), ` ${t.range}: ${t.text}`),
        ),
      ),
    ),
    h(
      "p",
      { class: "legend-shapes" },
      h("span", {}, symbol("tijdelijke_locaties"), " kavel"),
      h("span", {}, symbol("kantoren"), " kantoor"),
      h("span", {}, symbol("plinten"), " winkelplint"),
    ),
  );
}

function renderOverviewLegend(breaks) {
  // "0 woningen", "1 woning", "2 – 3 woningen", "4 woningen of meer" (one plural rule: homes()).
  const range = (lo, hi) => (lo === hi ? homes(lo) : `${formatNumber(lo, 0)} – ${homes(hi)}`);
  const labels = [
    range(0, breaks[0] - 1),
    range(breaks[0], breaks[1] - 1),
    range(breaks[1], breaks[2] - 1),
    range(breaks[2], breaks[3] - 1),
    `${homes(breaks[3])} of meer`,
  ];
  $("legend-overview").replaceChildren(
    h("p", { class: "legend-intro" }, "Per gemeente: woningen op locaties met klasse A of B (zeer kansrijk en kansrijk)."),
    h(
      "ul",
      { class: "legend-list" },
      OVERVIEW_COLORS.map((c, i) =>
        h("li", {}, h("span", { class: "swatch", style: { background: c }, "aria-hidden": "true" }), h("span", {}, labels[i])),
      ),
    ),
  );
}

function updateZoomHint() {
  if (!state.map) return;
  const overview = state.map.getZoom() < OVERVIEW_LEAFLET_ZOOM;
  $("zoom-hint").hidden = !overview;
  if (!overview && state.tooltip && state.map.hasLayer(state.tooltip)) state.map.removeLayer(state.tooltip);
  $("legend-overview").hidden = !overview;
  $("legend-sites").hidden = overview;
}

// ---------------------------------------------------------------- sites in view (keyboard route)

let inViewTimer = null;
function scheduleInView() {
  clearTimeout(inViewTimer);
  inViewTimer = setTimeout(updateInView, 150);
}

/** The best-scoring sites drawn in view, as buttons: the keyboard route to a site's panel. */
function updateInView() {
  const gl = state.gl;
  const list = $("inview-list");
  if (!gl || !gl.isStyleLoaded()) return;
  const layers = clickableLayerIds(state.layers.filter((l) => state.visible[l.id] !== false).map((l) => l.id)).filter((id) =>
    gl.getLayer(id),
  );
  const seen = new Map();
  if (state.map && state.map.getZoom() >= OVERVIEW_LEAFLET_ZOOM && layers.length) {
    const b = state.map.getBounds();
    const nw = gl.project([b.getWest(), b.getNorth()]);
    const se = gl.project([b.getEast(), b.getSouth()]);
    for (const f of gl.queryRenderedFeatures([[nw.x, nw.y], [se.x, se.y]], { layers })) {
      const key = `${f.source}/${f.properties.site_id}`;
      if (!seen.has(key)) seen.set(key, { layer: f.source, ...f.properties });
    }
  }
  const best = [...seen.values()].sort((a, b) => Number(b.score) - Number(a.score)).slice(0, 8);
  $("inview-empty").hidden = best.length > 0;
  $("inview-empty").textContent =
    state.map && state.map.getZoom() < OVERVIEW_LEAFLET_ZOOM ? "Zoom in om locaties te zien." : "Geen locaties in beeld (met deze filters).";
  list.replaceChildren(
    ...best.map((s) =>
      h(
        "li",
        {},
        h(
          "button",
          { type: "button", class: "link-button", onclick: () => openSite(s.layer, s.site_id, { zoom: true, focus: true }) },
          tierBadge(s.tier),
          h(
            "span",
            {},
            `${s.label || LAYER_NAMES[s.layer] || s.layer}: score ${formatNumber(s.score, 1)}, ${homes(s.capacity_units)}`,
          ),
        ),
      ),
    ),
  );
}

// ---------------------------------------------------------------- clicks: site panel or "why not"

function featureAt(latlng, pad = 4) {
  const gl = state.gl;
  if (!gl || !gl.isStyleLoaded()) return null;
  const p = gl.project([latlng.lng, latlng.lat]);
  const layers = clickableLayerIds(state.layers.filter((l) => state.visible[l.id] !== false).map((l) => l.id)).filter((id) =>
    gl.getLayer(id),
  );
  if (!layers.length) return null;
  const hits = gl.queryRenderedFeatures(
    [
      [p.x - pad, p.y - pad],
      [p.x + pad, p.y + pad],
    ],
    { layers },
  );
  // Points above polygons; among equals the first (top-most) hit.
  hits.sort((a, b) => (a.source === "plinten" ? -1 : 0) - (b.source === "plinten" ? -1 : 0));
  return hits[0] || null;
}

function onMouseMove(e) {
  const overview = state.map.getZoom() < OVERVIEW_LEAFLET_ZOOM;
  const hit = overview ? gemeenteAt(e.latlng) : featureAt(e.latlng);
  state.map.getContainer().classList.toggle("over-feature", Boolean(hit));
  if (overview && hit) {
    const text = `${hit.properties.gemeentenaam}: ${homes(hit.properties.capacity_ab)} op A/B-locaties`;
    if (!state.tooltip) state.tooltip = L.tooltip({ direction: "top", offset: [0, -8], className: "kk-tooltip" });
    state.tooltip.setLatLng(e.latlng).setContent(text);
    if (!state.map.hasLayer(state.tooltip)) state.tooltip.addTo(state.map);
  } else if (state.tooltip && state.map.hasLayer(state.tooltip)) {
    state.map.removeLayer(state.tooltip);
  }
}

function gemeenteAt(latlng) {
  const gl = state.gl;
  if (!gl || !gl.isStyleLoaded() || !gl.getLayer("gemeenten-fill")) return null;
  const p = gl.project([latlng.lng, latlng.lat]);
  return gl.queryRenderedFeatures([p.x, p.y], { layers: ["gemeenten-fill"] })[0] || null;
}

function onMapClick(e) {
  if (state.map.getZoom() < OVERVIEW_LEAFLET_ZOOM) {
    // Overview: a click on a municipality zooms to it (and shows its sites).
    const g = gemeenteAt(e.latlng);
    if (g) {
      const code = g.properties.gemeentecode;
      const select = $("gemeente-select");
      if ([...select.options].some((o) => o.value === code)) select.value = code;
      selectGemeente(code);
      return;
    }
  }
  const hit = featureAt(e.latlng);
  if (hit && hit.properties.site_id) openSite(hit.source, hit.properties.site_id);
  else whyAt(e.latlng);
}

// Opened from a button (keyboard route): focus moves to the panel's heading, so reading and tabbing
// continue there. Opened by a click on the map: focus stays where it was; the panel is announced
// through its aria-live region either way.
async function openSite(layerId, siteId, { focus = false, zoom = false } = {}) {
  const request = ++state.panelRequest;
  removeWhyMarker();
  openPanel("Locatie", MSG.loading);
  select(layerId, siteId);
  saveHash();
  try {
    const feature = await api(`/api/sites/${encodeURIComponent(layerId)}/${encodeURIComponent(siteId)}`);
    if (request !== state.panelRequest) return;
    const title = renderSite($("panel-body"), feature, layerId, gemeenteName(feature.properties && feature.properties.gemeentecode));
    renderStability($("panel-body"), feature);
    renderBusinessCaseEntry($("panel-body"), layerId, feature, { onExpired: sessionExpired });
    $("panel-title").textContent = title;
    $("panel").dataset.kind = "site";
    outline(feature, { zoom });
    renderStatus($("site-status"), layerId, siteId, state.me);
    if (focus) $("panel-title").focus();
  } catch (err) {
    if (request !== state.panelRequest) return;
    if (err instanceof ApiError && err.status === 404) {
      // Not (or no longer) in the scan: its status and history may still be there.
      $("panel-body").replaceChildren(h("p", { class: "muted" }, "Deze locatie staat niet (meer) in de scan."), h("div", { id: "site-status" }));
      $("panel").dataset.kind = "site";
      renderStatus($("site-status"), layerId, siteId, state.me);
      return;
    }
    panelError(err);
  }
}

/** Outline a site, parcel or building (GeoJSON, WGS84) on the map; zoom to it on request. */
function outline(feature, { zoom = false } = {}) {
  if (!state.map) return;
  if (state.outline) state.outline.remove();
  state.outline = null;
  if (!feature || !feature.geometry) return;
  state.outline = L.geoJSON(feature, {
    interactive: false,
    style: { color: "#000", weight: 4, dashArray: "6 4", fill: false },
    pointToLayer: (_f, latlng) => L.circleMarker(latlng, { radius: 12, color: "#000", weight: 4, fill: false }),
  }).addTo(state.map);
  kk.outline = feature.id || (feature.properties && (feature.properties.site_id || feature.properties.parcel_id)) || "place";
  if (zoom) {
    const b = state.outline.getBounds();
    if (b.isValid()) state.map.fitBounds(b, { maxZoom: 17, padding: [60, 60], animate: false });
  }
}

async function whyAt(latlng, { focus = false } = {}) {
  const request = ++state.panelRequest;
  select(null, null);
  removeWhyMarker();
  outline(null);
  if (state.map) {
    state.whyMarker = L.circleMarker(latlng, {
      radius: 9,
      color: "#000",
      weight: 3,
      fillColor: "#fff",
      fillOpacity: 0.6,
      interactive: false,
    }).addTo(state.map);
  }
  openPanel("Waarom hier niet?", MSG.loading);
  try {
    const x = latlng.lng.toFixed(6);
    const y = latlng.lat.toFixed(6);
    const answer = await api(`/api/why?x=${x}&y=${y}`);
    if (request !== state.panelRequest) return;
    renderWhy($("panel-body"), answer, (layer, siteId) => openSite(layer, siteId, { zoom: true, focus: true }));
    $("panel").dataset.kind = "why";
    const place = (answer.parcel && answer.parcel.geometry && answer.parcel) || (answer.building && answer.building.geometry && answer.building);
    if (place) outline({ type: "Feature", geometry: place.geometry, properties: { parcel_id: place.parcel_id || place.pand_id } });
    if (focus) $("panel-title").focus();
  } catch (err) {
    if (request !== state.panelRequest) return;
    if (err instanceof ApiError && err.status === 403) {
      $("panel-body").replaceChildren(h("p", { class: "why-summary", "data-testid": "why-summary" }, MSG.outside));
      $("panel").dataset.kind = "why";
    } else panelError(err);
  }
}

function panelError(err) {
  if (err instanceof ApiError && err.status === 401) return sessionExpired();
  const text =
    err instanceof ApiError && err.status === 404
      ? "Deze locatie is niet (meer) gevonden."
      : err instanceof ApiError && err.status === 0
        ? MSG.serverDown
        : `Ophalen lukte niet (${err.status || "fout"}). Probeer het opnieuw.`;
  $("panel-body").replaceChildren(h("p", { class: "form-error" }, text));
}

function select(layerId, siteId) {
  state.selected = layerId ? { layerId, siteId } : null;
  if (!state.gl || !state.gl.isStyleLoaded()) return;
  for (const l of state.layers) {
    const id = `${l.id}-selected`;
    if (state.gl.getLayer(id)) state.gl.setFilter(id, ["==", ["get", "site_id"], l.id === layerId ? siteId : ""]);
  }
}

function removeWhyMarker() {
  if (state.whyMarker) {
    state.whyMarker.remove();
    state.whyMarker = null;
  }
}

function openPanel(title, loadingText) {
  const panel = $("panel");
  $("panel-title").textContent = title;
  $("panel-body").replaceChildren(h("p", { class: "muted" }, loadingText));
  panel.dataset.kind = "loading";
  const wasOpen = panel.dataset.state === "open";
  panel.dataset.state = "open";
  if (!wasOpen && state.map) setTimeout(() => state.map && state.map.invalidateSize(), 0);
}

function closePanel() {
  const panel = $("panel");
  if (panel.dataset.state === "closed") return;
  panel.dataset.state = "closed";
  panel.dataset.kind = "";
  $("panel-body").replaceChildren();
  removeWhyMarker();
  select(null, null);
  if (state.outline) state.outline.remove();
  state.outline = null;
  saveHash();
  if (state.map) setTimeout(() => state.map && state.map.invalidateSize(), 0);
}

kk.maplibregl = maplibregl;
start();
