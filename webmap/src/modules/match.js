// The regional match (issue 14): "treintjes" of relocatable homes along sites on offer.
// GET /api/match answers the plan within the caller's scope (docs/contracts.md §G.7); this module
// draws every move of a chain as an arrow between sites, lists the chains, the unplaced homes with
// their reason and the objective's parts, and shows a timeline per batch and per site. The page
// computes nothing: every figure is the api's.

import "./match.css";
import L from "leaflet";
import { ApiError, api } from "./api.js";
import { $, fill, h } from "./dom.js";
import { formatNumber } from "./text.js";

const COLORS = ["#1b4f72", "#b45309", "#15803d", "#9333ea", "#be123c", "#0e7490", "#4d7c0f", "#7c2d12"];

const m = {
  map: null,
  layer: null,
  answer: null,
  drawer: null,
  onExpired: null,
};

function monthIndex(ym) {
  const [y, mo] = String(ym).split("-").map(Number);
  return y * 12 + (mo - 1);
}

function euro(v) {
  return `€ ${formatNumber(Number(v) || 0, 0)}`;
}

function homes(n) {
  return `${formatNumber(n, 0)} ${Number(n) === 1 ? "woning" : "woningen"}`;
}

/** Show or hide the treintjes on ``map``; returns whether they are shown. */
export async function toggleMatch(map, { onExpired } = {}) {
  if (m.layer) {
    closeMatch();
    return false;
  }
  m.map = map;
  m.onExpired = onExpired;
  const drawer = openDrawer();
  fill($("match-body"), h("p", { class: "muted" }, "De planning wordt berekend …"));
  try {
    m.answer = await api("/api/match");
  } catch (err) {
    if (err instanceof ApiError && err.status === 401 && m.onExpired) {
      closeMatch();
      m.onExpired();
      return false;
    }
    fill($("match-body"), h("p", { class: "form-error", role: "alert" }, `De planning kon niet worden geladen: ${err.message}`));
    return true;
  }
  if (!m.drawer || m.drawer !== drawer) return false; // closed meanwhile
  drawChains(map, m.answer);
  renderSummary(m.answer);
  return true;
}

export function closeMatch() {
  if (m.layer && m.map) m.map.removeLayer(m.layer);
  m.layer = null;
  m.answer = null;
  if (m.drawer) m.drawer.remove();
  m.drawer = null;
  const button = $("match-toggle");
  if (button) {
    button.setAttribute("aria-pressed", "false");
    button.textContent = "Toon treintjes";
  }
}

function openDrawer() {
  if (m.drawer) m.drawer.remove();
  const close = h("button", { type: "button", class: "btn btn-icon", id: "match-close", "aria-label": "Treintjes sluiten" }, "×");
  close.addEventListener("click", closeMatch);
  m.drawer = h(
    "section",
    { class: "match-drawer", id: "match-drawer", "aria-labelledby": "match-title" },
    h(
      "div",
      { class: "match-head" },
      h("h2", { id: "match-title" }, "Treintjes: verplaatsbare woningen langs tijdelijke locaties"),
      close,
    ),
    h("div", { class: "match-grid" }, h("div", { id: "match-body" }), h("div", { id: "match-timeline", "aria-live": "polite" })),
  );
  document.body.append(m.drawer);
  return m.drawer;
}

// ---------------------------------------------------------------- the map

function arrowMarker(svg) {
  if (svg.querySelector("#kk-arrow")) return;
  const ns = "http://www.w3.org/2000/svg";
  const defs = document.createElementNS(ns, "defs");
  const marker = document.createElementNS(ns, "marker");
  for (const [k, v] of Object.entries({ id: "kk-arrow", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" }))
    marker.setAttribute(k, v);
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", "M 0 0 L 10 5 L 0 10 z");
  path.setAttribute("fill", "context-stroke");
  marker.append(path);
  defs.append(marker);
  svg.prepend(defs);
}

function drawChains(map, answer) {
  const pane = map.getPane("matchPane") || map.createPane("matchPane");
  pane.style.zIndex = "420";
  const renderer = L.svg({ pane: "matchPane" });
  const group = L.layerGroup();
  m.layer = group;
  group.addTo(map);
  renderer.addTo(map);
  const bounds = [];
  answer.chains.forEach((chain, i) => {
    const color = COLORS[i % COLORS.length];
    let from = [chain.batch.lat, chain.batch.lon];
    bounds.push(from);
    chain.stops.forEach((stop, j) => {
      const to = [stop.lat, stop.lon];
      bounds.push(to);
      const line = L.polyline([from, to], {
        renderer,
        color,
        weight: 3,
        opacity: 0.9,
        className: "kk-move",
        interactive: true,
        bubblingMouseEvents: false,
      });
      line.bindTooltip(`${chain.batch.partij_id}: ${homes(chain.units)} naar ${stop.naam || stop.gemeentecode} (${stop.from} – ${stop.to})`);
      line.on("click", () => showBatch(chain.batch.partij_id));
      line.addTo(group);
      const el = line.getElement();
      if (el) {
        el.setAttribute("marker-end", "url(#kk-arrow)");
        el.dataset.chain = chain.chain_id;
        el.dataset.step = String(j);
      }
      from = to;
    });
  });
  for (const site of answer.sites) {
    const marker = L.circleMarker([site.lat, site.lon], {
      renderer,
      radius: 6,
      color: "#123650",
      weight: 2,
      fillColor: site.occupancy.length ? "#f59e0b" : "#ffffff",
      fillOpacity: 1,
      className: "kk-match-site",
      bubblingMouseEvents: false,
    });
    marker.bindTooltip(`${site.naam || site.aanbod_id} (${site.capaciteit} plaatsen, ${site.beschikbaar_van} – ${site.beschikbaar_tot})`);
    marker.on("click", () => showSite(site.aanbod_id));
    marker.addTo(group);
    const el = marker.getElement();
    if (el) el.dataset.aanbod = site.aanbod_id;
    bounds.push([site.lat, site.lon]);
  }
  const svg = pane.querySelector("svg");
  if (svg) arrowMarker(svg);
  if (bounds.length) map.fitBounds(L.latLngBounds(bounds), { padding: [40, 40], maxZoom: 13 });
}

// ---------------------------------------------------------------- lists

function renderSummary(answer) {
  const o = answer.objective;
  const parts = h(
    "table",
    { class: "match-parts" },
    h("caption", {}, answer.scope === "regio" ? "Doelfunctie (hele regio)" : "Doelfunctie (ketens die uw gemeenten raken)"),
    h("tbody", {},
      h("tr", {}, h("th", { scope: "row" }, "Leegstand"), h("td", {}, `${formatNumber(o.idle_home_years, 1)} woningjaren`), h("td", { class: "num" }, euro(o.idle_eur))),
      h("tr", {}, h("th", { scope: "row" }, "Transport"), h("td", {}, `${formatNumber(o.home_km, 0)} woning-km`), h("td", { class: "num" }, euro(o.transport_eur))),
      h("tr", {}, h("th", { scope: "row" }, "Verhuizingen"), h("td", {}, homes(o.moves)), h("td", { class: "num" }, euro(o.relocation_eur))),
      h("tr", { class: "total" }, h("th", { scope: "row" }, "Totaal"), h("td", {}), h("td", { class: "num" }, euro(o.total_eur))),
    ),
  );
  const plan = answer.plan
    ? h("p", { class: "muted small", id: "match-gap" }, `Status ${answer.plan.status}; ondergrens ${euro(answer.plan.bound_eur)}; gap ${formatNumber(100 * answer.plan.gap, 2)}%.`)
    : null;
  const chains = h(
    "ol",
    { class: "match-chains", id: "match-chains" },
    answer.chains.map((c) =>
      h(
        "li",
        {},
        h(
          "button",
          { type: "button", class: "linklike", "data-partij": c.batch.partij_id, onclick: () => showBatch(c.batch.partij_id) },
          `${c.batch.partij_id} (${homes(c.units)})`,
        ),
        " → ",
        c.stops.map((s) => `${s.naam || s.gemeentecode} ${s.from}–${s.to}`).join(" → "),
      ),
    ),
  );
  const unplaced = answer.unplaced.length
    ? h(
        "ul",
        { class: "match-unplaced", id: "match-unplaced" },
        answer.unplaced.map((u) =>
          h("li", {}, h("strong", {}, `${u.partij_id}: ${homes(u.units)}, ${formatNumber(u.idle_home_years, 1)} woningjaren leeg. `), u.text),
        ),
      )
    : h("p", { class: "muted small" }, "Alle woningen zijn geplaatst.");
  fill(
    $("match-body"),
    [
      parts,
      plan,
      h("h3", {}, `${answer.chains.length} ${answer.chains.length === 1 ? "keten" : "ketens"} (${answer.reference_month} – ${answer.horizon_end})`),
      answer.chains.length ? chains : h("p", { class: "muted small" }, "Geen ketens die uw gemeenten raken."),
      h("h3", {}, "Niet geplaatst"),
      unplaced,
    ],
  );
  fill($("match-timeline"), h("p", { class: "muted small" }, "Kies een partij of een locatie (op de kaart of in de lijst) voor de tijdlijn."));
}

// ---------------------------------------------------------------- timelines

function track(answer, bars, label) {
  const start = monthIndex(answer.reference_month);
  const end = monthIndex(answer.horizon_end) + 1;
  const span = Math.max(1, end - start);
  const years = [];
  for (let y = Math.ceil(start / 12); y * 12 < end; y += 5) years.push(y);
  return h(
    "div",
    { class: "match-track", role: "group", "aria-label": label },
    years.map((y) => h("span", { class: "match-year", style: { left: `${((y * 12 - start) / span) * 100}%` } }, String(y))),
    bars.map((b) => {
      const a = Math.max(start, monthIndex(b.from));
      const z = Math.min(end, monthIndex(b.to) + 1);
      return h(
        "div",
        {
          class: `match-bar ${b.kind || ""}`,
          title: b.title,
          style: { left: `${((a - start) / span) * 100}%`, width: `${(Math.max(1, z - a) / span) * 100}%` },
        },
        b.text,
      );
    }),
  );
}

function showBatch(partijId) {
  const answer = m.answer;
  if (!answer) return;
  const batch = answer.batches.find((b) => b.partij_id === partijId);
  const chains = answer.chains.filter((c) => c.batch.partij_id === partijId);
  const rows = chains.map((c) =>
    h(
      "div",
      { class: "match-row" },
      h("span", { class: "match-row-label" }, homes(c.units)),
      track(
        answer,
        c.stops.map((s) => ({ from: s.from, to: s.to, text: s.naam || s.gemeentecode, title: `${s.naam || s.gemeentecode} (${s.gemeentecode}) ${s.from} – ${s.to}, ${formatNumber(s.km, 1)} km` })),
        `Tijdlijn van ${homes(c.units)} van ${partijId}`,
      ),
    ),
  );
  const info = batch
    ? `${batch.eigenaar || "Eigenaar onbekend"}, ${homes(batch.aantal)} (${batch.woningtype || "type onbekend"}), vrij vanaf ${batch.vrij_vanaf}, nog ${formatNumber(batch.restlevensduur_jaren, 1)} jaar technische levensduur; ${formatNumber(batch.idle_home_years, 1)} woningjaren leeg.`
    : "";
  fill(
    $("match-timeline"),
    [
      h("h3", { id: "match-timeline-title" }, `Tijdlijn partij ${partijId}`),
      h("p", { class: "small" }, info),
      rows.length ? rows : h("p", { class: "muted small" }, "Deze partij staat in geen keten."),
      batch && batch.unplaced_units ? h("p", { class: "small" }, `${homes(batch.unplaced_units)} niet geplaatst.`) : null,
    ],
  );
}

function showSite(aanbodId) {
  const answer = m.answer;
  if (!answer) return;
  const site = answer.sites.find((s) => s.aanbod_id === aanbodId);
  if (!site) return;
  const avail = track(answer, [{ from: site.beschikbaar_van, to: site.beschikbaar_tot, text: `${site.capaciteit} plaatsen`, kind: "window", title: "Beschikbaar" }], `Beschikbaarheid van ${site.naam || aanbodId}`);
  const rows = site.occupancy.map((o) =>
    h(
      "div",
      { class: "match-row" },
      h("span", { class: "match-row-label" }, o.partij_id),
      track(answer, [{ from: o.from, to: o.to, text: homes(o.units), title: `${o.partij_id}: ${homes(o.units)} ${o.from} – ${o.to}` }], `Bezetting door ${o.partij_id}`),
    ),
  );
  fill(
    $("match-timeline"),
    [
      h("h3", { id: "match-timeline-title" }, `Tijdlijn locatie ${site.naam || aanbodId}`),
      h("p", { class: "small" }, `${site.gemeentecode}; aangeboden door ${site.aangeboden_door || "onbekend"}${site.doelgroepen ? `; doelgroepen ${site.doelgroepen}` : ""}; hoogste bezetting ${homes(site.max_units)}.`),
      h("div", { class: "match-row" }, h("span", { class: "match-row-label" }, "Beschikbaar"), avail),
      rows.length ? rows : h("p", { class: "muted small" }, "Geen partij gepland op deze locatie."),
    ],
  );
}
