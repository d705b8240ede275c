// The business case of one site (issue 13): a drawer over the map with the knobs (sliders and
// fields that recompute at once), the cash-flow chart and the three endings side by side.
// Every figure comes from GET /api/sites/{layer}/{id}/businesscase; the page computes nothing.

import "./businesscase.css";
import { ApiError, api } from "./api.js";
import { $, fill, h } from "./dom.js";
import { formatNumber, homes } from "./text.js";

const GROUPS = [
  ["woningen", "Woningen"],
  ["locatie", "Locatie en grond"],
  ["exploitatie", "Exploitatie"],
  ["vervolg", "Na de eerste termijn"],
  ["financiering", "Financiering"],
];
// Knobs that only matter for one land option (hidden otherwise, so the form stays short).
const LAND_KNOBS = {
  land_price_eur_m2: "koop",
  land_resale_share: "koop",
  land_rent_eur_m2_year: "huur",
  grondabonnement_basis: "grondabonnement",
  grondabonnement_eur_year: "grondabonnement",
};
const AFTER_KNOBS = {
  relocation_eur_home: ["verplaatsing_1", "verplaatsing_2"],
  relocation_vacancy_months: ["verplaatsing_1", "verplaatsing_2"],
  second_term_years: ["verplaatsing_1", "verplaatsing_2"],
  third_term_years: ["verplaatsing_2"],
};
const COMPONENT_NAMES = {
  investment: "Investering",
  rent: "Huur",
  operating_costs: "Beheer, onderhoud, belastingen",
  land: "Grond",
  relocation: "Verplaatsing",
  residual: "Restwaarde",
};
const COMPONENT_COLORS = {
  investment: "#7f1d1d",
  rent: "#1b4f72",
  operating_costs: "#b45309",
  land: "#6b7280",
  relocation: "#9333ea",
  residual: "#15803d",
};

const bc = {
  layer: null,
  siteId: null,
  overrides: {},
  answer: null,
  timer: null,
  controller: null,
  request: 0,
  onExpired: null,
};

export function euro(value) {
  if (value === null || value === undefined || !Number.isFinite(Number(value))) return "—";
  const n = Number(value);
  const text = formatNumber(Math.abs(n), 0);
  return n < 0 ? `−€ ${text}` : `€ ${text}`;
}

/** Short amounts for the chart's axis: € 4,6 mln, € 460.000. */
function euroShort(value) {
  const n = Number(value);
  if (Math.abs(n) >= 1e6) return `${n < 0 ? "−" : ""}€ ${formatNumber(Math.abs(n) / 1e6, 1)} mln`;
  return euro(n);
}

const SCENARIO_SHORT = { restwaarde: "Restwaarde", verplaatsing_1: "1× verplaatsen", verplaatsing_2: "2× verplaatsen" };

function percent(value, digits = 1) {
  if (value === null || value === undefined) return "—";
  return `${formatNumber(Number(value) * 100, digits)}%`;
}

function bcUrl() {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(bc.overrides)) params.set(key, String(value));
  const q = params.toString();
  return `/api/sites/${encodeURIComponent(bc.layer)}/${encodeURIComponent(bc.siteId)}/businesscase${q ? `?${q}` : ""}`;
}

/** The business-case entry in the site panel: a short line and the button that opens the drawer. */
export function renderBusinessCaseEntry(body, layerId, feature, { onExpired } = {}) {
  const p = (feature && feature.properties) || {};
  if (!p.site_id) return;
  bc.onExpired = onExpired || null;
  body.append(
    h(
      "section",
      { class: "bc-entry", "aria-labelledby": "bc-entry-title" },
      h("h3", { id: "bc-entry-title" }, "Businesscase"),
      h(
        "p",
        { class: "small muted" },
        "Reken de exploitatie van tijdelijke woningen op deze plek door: investering, huur, grond, verplaatsing of restwaarde. " +
          "Met draaiknoppen, gemodelleerd naar het Rekenmodel flexwonen (BZK, 2023).",
      ),
      h(
        "button",
        {
          type: "button",
          class: "btn btn-primary",
          "data-testid": "bc-open",
          onclick: () => openBusinessCase(layerId, p.site_id, p.label || p.site_id),
        },
        "Businesscase doorrekenen",
      ),
    ),
  );
}

function drawer() {
  let el = $("bc-drawer");
  if (el) return el;
  el = h(
    "section",
    { id: "bc-drawer", class: "bc-drawer", role: "region", "aria-labelledby": "bc-title", hidden: true },
    h(
      "div",
      { class: "bc-head" },
      h(
        "div",
        { class: "bc-titles" },
        h("h2", { id: "bc-title", tabindex: "-1" }, "Businesscase"),
        h("p", { class: "bc-disclaimer", id: "bc-disclaimer" }, ""),
      ),
      h("button", { type: "button", class: "btn btn-icon", id: "bc-close", "aria-label": "Businesscase sluiten", onclick: closeBusinessCase }, "×"),
    ),
    h(
      "div",
      { class: "bc-grid" },
      h("form", { class: "bc-knobs", id: "bc-knobs", "aria-label": "Draaiknoppen", onsubmit: (e) => e.preventDefault() }),
      h("div", { class: "bc-middle", tabindex: "0", "aria-label": "Uitkomsten en kasstroom" }, h("div", { id: "bc-figures", "aria-live": "polite" }), h("div", { id: "bc-chart" })),
      h("div", { class: "bc-right", tabindex: "0", "aria-label": "Scenario's en suggesties" }, h("div", { id: "bc-scenarios" }), h("div", { id: "bc-advice" })),
    ),
  );
  (document.getElementById("main") || document.body).append(el);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !el.hidden && el.contains(document.activeElement)) {
      e.stopPropagation();
      closeBusinessCase();
    }
  });
  return el;
}

export async function openBusinessCase(layerId, siteId, title) {
  bc.layer = layerId;
  bc.siteId = siteId;
  bc.overrides = {};
  bc.answer = null;
  const el = drawer();
  el.hidden = false;
  $("bc-title").textContent = `Businesscase — ${title}`;
  fill($("bc-knobs"), h("p", { class: "muted" }, "Bezig met laden…"));
  fill($("bc-figures"), []);
  fill($("bc-chart"), []);
  fill($("bc-scenarios"), []);
  fill($("bc-advice"), []);
  await recompute({ rebuildKnobs: true });
  $("bc-title").focus();
}

export function closeBusinessCase() {
  const el = $("bc-drawer");
  if (!el) return;
  el.hidden = true;
  if (bc.controller) bc.controller.abort();
  bc.layer = bc.siteId = null;
}

function schedule() {
  clearTimeout(bc.timer);
  bc.timer = setTimeout(() => recompute({ rebuildKnobs: false }), 120);
}

async function recompute({ rebuildKnobs }) {
  const request = ++bc.request;
  if (bc.controller) bc.controller.abort();
  bc.controller = new AbortController();
  const status = $("bc-drawer");
  status.dataset.state = "loading";
  try {
    const answer = await api(bcUrl(), { signal: bc.controller.signal });
    if (request !== bc.request) return;
    bc.answer = answer;
    if (rebuildKnobs) renderKnobs(answer);
    else syncKnobs(answer);
    renderFigures(answer);
    renderChart(answer);
    renderScenarios(answer);
    renderAdvice(answer);
    $("bc-disclaimer").textContent = answer.disclaimer || "";
    status.dataset.state = "ready";
  } catch (err) {
    if (err && err.name === "AbortError") return;
    if (request !== bc.request) return;
    status.dataset.state = "error";
    if (err instanceof ApiError && err.status === 401 && bc.onExpired) {
      closeBusinessCase();
      bc.onExpired();
      return;
    }
    const text =
      err instanceof ApiError && err.status === 422
        ? err.message
        : err instanceof ApiError && err.status === 404
          ? "Deze locatie is niet (meer) gevonden."
          : `Doorrekenen lukte niet (${err.status || "fout"}).`;
    fill($("bc-figures"), h("p", { class: "form-error", role: "alert" }, text));
  }
}

// ---------------------------------------------------------------- knobs

function knobValueText(knob, value) {
  if (value === null || value === undefined) return "—";
  if (knob.type === "choice") return (knob.choices && knob.choices[value]) || String(value);
  if (knob.type === "boolean") return value ? "ja" : "nee";
  if (knob.unit === "fraction") return percent(value, knob.step && knob.step < 0.01 ? 2 : 0);
  if (knob.unit === "euro") return euro(value);
  if (knob.unit === "euro_m2") return `${euro(value)}/m²`;
  if (knob.unit === "jaar") return knob.name === "start_year" ? String(value) : `${formatNumber(value, 0)} jaar`;
  if (knob.unit) return `${formatNumber(value, 0)} ${knob.unit}`;
  return formatNumber(value, 2);
}

function setOverride(name, value) {
  bc.overrides[name] = value;
  schedule();
}

function knobControl(knob) {
  const id = `bc-knob-${knob.name}`;
  const help = `${knob.source}${knob.assumption ? " (aanname)" : ""}`;
  if (knob.type === "choice") {
    return h(
      "div",
      { class: "bc-knob", "data-knob": knob.name },
      h("label", { for: id }, knob.label),
      h(
        "select",
        {
          id,
          name: knob.name,
          title: help,
          onchange: (e) => {
            setOverride(knob.name, e.target.value);
            applyVisibility();
          },
        },
        Object.entries(knob.choices || {}).map(([value, label]) => {
          const opt = h("option", { value }, label);
          opt.selected = value === knob.value;
          return opt;
        }),
      ),
    );
  }
  if (knob.type === "boolean") {
    const box = h("input", {
      id,
      name: knob.name,
      type: "checkbox",
      title: help,
      onchange: (e) => setOverride(knob.name, e.target.checked ? "true" : "false"),
    });
    box.checked = Boolean(knob.value);
    return h("div", { class: "bc-knob bc-check", "data-knob": knob.name }, box, h("label", { for: id }, knob.label));
  }
  // number / integer: a slider with its value, and a field for an exact figure
  const out = h("output", { for: id, id: `${id}-out`, class: "bc-out" }, knobValueText(knob, knob.value));
  const slider = h("input", {
    id,
    name: knob.name,
    type: "range",
    min: knob.min,
    max: knob.max,
    step: knob.step || 1,
    title: help,
    "aria-describedby": `${id}-src`,
  });
  const field = h("input", {
    id: `${id}-exact`,
    name: `${knob.name}-exact`,
    type: "number",
    min: knob.min,
    max: knob.max,
    step: knob.step || 1,
    inputmode: "decimal",
    "aria-label": `${knob.label} (precies)`,
  });
  const value = knob.value === null || knob.value === undefined ? "" : String(knob.value);
  slider.value = value;
  field.value = value;
  slider.addEventListener("input", () => {
    field.value = slider.value;
    out.textContent = knobValueText(knob, Number(slider.value));
    setOverride(knob.name, slider.value);
  });
  field.addEventListener("input", () => {
    const n = Number(field.value);
    if (field.value === "" || !Number.isFinite(n)) return;
    slider.value = field.value;
    out.textContent = knobValueText(knob, n);
    setOverride(knob.name, field.value);
  });
  return h(
    "div",
    { class: "bc-knob", "data-knob": knob.name },
    h("label", { for: id }, knob.label, " ", out),
    h("div", { class: "bc-knob-inputs" }, slider, field),
    h("p", { class: "bc-source", id: `${id}-src` }, knob.assumption ? knob.source : `Bron: ${knob.source}`),
  );
}

/** A knob whose default comes from the site (homes, first term) shows the site's value. */
function effective(knob, answer) {
  if (knob.value !== null && knob.value !== undefined) return knob;
  const r = answer.result || {};
  if (knob.name === "homes") return { ...knob, value: r.homes };
  if (knob.name === "first_term_years") return { ...knob, value: r.first_term_years };
  return knob;
}

function renderKnobs(answer) {
  const form = $("bc-knobs");
  const byGroup = new Map(GROUPS.map(([g]) => [g, []]));
  for (const raw of answer.knobs || []) {
    const knob = effective(raw, answer);
    (byGroup.get(knob.group) || byGroup.get("financiering")).push(knob);
  }
  fill(
    form,
    GROUPS.map(([group, title]) =>
      byGroup.get(group).length
        ? h("fieldset", { class: "bc-group" }, h("legend", {}, title), byGroup.get(group).map(knobControl))
        : null,
    ),
    h(
      "button",
      {
        type: "button",
        class: "btn btn-secondary btn-small",
        onclick: () => {
          bc.overrides = {};
          recompute({ rebuildKnobs: true });
        },
      },
      "Terug naar de kengetallen",
    ),
  );
  applyVisibility();
}

/** Values the server resolved (e.g. the rent when the start year changes) shown in untouched knobs. */
function syncKnobs(answer) {
  for (const raw of answer.knobs || []) {
    const knob = effective(raw, answer);
    if (knob.name in bc.overrides) continue;
    const el = document.getElementById(`bc-knob-${knob.name}`);
    if (!el) continue;
    if (knob.type === "boolean") el.checked = Boolean(knob.value);
    else if (el.value !== String(knob.value ?? "")) {
      el.value = knob.value === null || knob.value === undefined ? "" : String(knob.value);
      const exact = document.getElementById(`bc-knob-${knob.name}-exact`);
      if (exact) exact.value = el.value;
      const out = document.getElementById(`bc-knob-${knob.name}-out`);
      if (out) out.textContent = knobValueText(knob, knob.value);
    }
  }
  applyVisibility();
}

function currentValue(name) {
  if (name in bc.overrides) return String(bc.overrides[name]);
  const knob = ((bc.answer && bc.answer.knobs) || []).find((k) => k.name === name);
  return knob ? String(knob.value) : "";
}

function applyVisibility() {
  const land = currentValue("land_option");
  const scenario = currentValue("scenario");
  for (const [name, option] of Object.entries(LAND_KNOBS)) {
    const el = document.querySelector(`#bc-knobs [data-knob="${name}"]`);
    if (el) el.hidden = land !== option;
  }
  for (const [name, scenarios] of Object.entries(AFTER_KNOBS)) {
    const el = document.querySelector(`#bc-knobs [data-knob="${name}"]`);
    if (el) el.hidden = !scenarios.includes(scenario);
  }
  const guarantee = currentValue("guarantee") === "true";
  for (const name of ["guarantee_fee_eur_home", "guarantee_cover"]) {
    const el = document.querySelector(`#bc-knobs [data-knob="${name}"]`);
    if (el) el.hidden = !guarantee;
  }
}

// ---------------------------------------------------------------- figures

function renderFigures(answer) {
  const r = answer.result;
  const rc = answer.rent_check;
  const inputs = answer.inputs || {};
  fill($("bc-figures"), [
    h(
      "dl",
      { class: "bc-kpis" },
      h("div", {}, h("dt", {}, "Netto contante waarde"), h("dd", { "data-testid": "bc-npv", class: r.npv < 0 ? "neg" : "pos" }, euro(r.npv))),
      h("div", {}, h("dt", {}, "Interne rentevoet (IRR)"), h("dd", { "data-testid": "bc-irr" }, r.irr === null ? "geen" : percent(r.irr))),
      h("div", {}, h("dt", {}, "Break-even huur"), h("dd", { "data-testid": "bc-be-rent" }, r.break_even_rent === null ? "—" : `${euro(r.break_even_rent)} p/m`)),
      h(
        "div",
        {},
        h("dt", {}, "Break-even termijn"),
        h("dd", { "data-testid": "bc-be-term" }, r.break_even_term === null ? "niet binnen 40 jaar" : `${r.break_even_term} jaar`),
      ),
    ),
    h(
      "p",
      { class: "small" },
      `${homes(r.homes)}, investering ${euro(r.investment)}; eerste termijn ${r.first_term_years} jaar ` +
        `(${inputs.window_source === "beschikbaar_jaren" ? "beschikbaarheid uit de scan" : "vergunningstermijn"}), einde na ${r.end_year} jaar.`,
    ),
    rc ? h("p", { class: `bc-rent bc-rent-${rc.status}`, "data-testid": "bc-rent-check" }, rc.text) : null,
  ]);
}

function renderChart(answer) {
  const rows = answer.result.cashflow || [];
  const width = 460;
  const height = 220;
  const pad = { l: 74, r: 8, t: 10, b: 24 };
  const names = Object.keys(COMPONENT_NAMES);
  let min = 0;
  let max = 0;
  for (const row of rows) {
    let pos = 0;
    let neg = 0;
    for (const n of names) {
      const v = Number(row[n]) || 0;
      if (v > 0) pos += v;
      else neg += v;
    }
    max = Math.max(max, pos, row.cumulative_pv);
    min = Math.min(min, neg, row.cumulative_pv);
  }
  if (max === min) max = min + 1;
  const x0 = pad.l;
  const w = (width - pad.l - pad.r) / Math.max(rows.length, 1);
  const y = (v) => pad.t + ((max - v) / (max - min)) * (height - pad.t - pad.b);
  const svgNs = "http://www.w3.org/2000/svg";
  const el = (tag, attrs, text) => {
    const node = document.createElementNS(svgNs, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const svg = el("svg", {
    viewBox: `0 0 ${width} ${height}`,
    class: "bc-svg",
    role: "img",
    "aria-labelledby": "bc-chart-title",
    "data-testid": "bc-chart",
  });
  svg.append(el("title", { id: "bc-chart-title" }, "Kasstroom per jaar (staafjes) en de cumulatieve contante waarde (lijn)"));
  // axis ticks: min, 0, max
  for (const v of [min, 0, max]) {
    svg.append(el("line", { x1: x0, x2: width - pad.r, y1: y(v), y2: y(v), class: v === 0 ? "bc-zero" : "bc-grid" }));
    svg.append(el("text", { x: x0 - 4, y: y(v) + 4, class: "bc-axis", "text-anchor": "end" }, euroShort(v)));
  }
  rows.forEach((row, i) => {
    let up = 0;
    let down = 0;
    for (const n of names) {
      const v = Number(row[n]) || 0;
      if (!v) continue;
      const top = v > 0 ? up + v : down;
      const bottom = v > 0 ? up : down + v;
      if (v > 0) up += v;
      else down += v;
      svg.append(
        el("rect", {
          x: x0 + i * w + w * 0.12,
          width: Math.max(w * 0.76, 1),
          y: y(top),
          height: Math.max(y(bottom) - y(top), 0.5),
          fill: COMPONENT_COLORS[n],
          class: `bc-bar bc-bar-${n}`,
        }),
      );
    }
    if (rows.length <= 20 || i % 5 === 0) svg.append(el("text", { x: x0 + (i + 0.5) * w, y: height - 8, class: "bc-axis", "text-anchor": "middle" }, String(row.year)));
  });
  const points = rows.map((row, i) => `${x0 + (i + 0.5) * w},${y(row.cumulative_pv)}`).join(" ");
  svg.append(el("polyline", { points, class: "bc-line", fill: "none" }));
  const legend = h(
    "ul",
    { class: "bc-legend" },
    names.map((n) => h("li", {}, h("span", { class: "bc-swatch", style: { background: COMPONENT_COLORS[n] } }), COMPONENT_NAMES[n])),
    h("li", {}, h("span", { class: "bc-swatch bc-swatch-line" }), "Cumulatieve contante waarde"),
  );
  fill($("bc-chart"), [h("h3", {}, "Kasstroom per jaar"), svg, legend]);
}

function renderScenarios(answer) {
  const rows = answer.scenarios || [];
  fill($("bc-scenarios"), [
    h("h3", {}, "Scenario's naast elkaar"),
    h(
      "table",
      { class: "bc-table", "data-testid": "bc-scenarios" },
      h("caption", { class: "visually-hidden" }, "Uitkomst per scenario na de eerste termijn"),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "Daarna"),
          h("th", { scope: "col", class: "num" }, "NCW"),
          h("th", { scope: "col", class: "num" }, "IRR"),
          h("th", { scope: "col", class: "num" }, "Break-even huur"),
        ),
      ),
      h(
        "tbody",
        {},
        rows.map((s) =>
          h(
            "tr",
            { class: s.selected ? "selected" : "", "data-scenario": s.scenario },
            h(
              "th",
              { scope: "row" },
              h(
                "button",
                {
                  type: "button",
                  class: "link-button",
                  "aria-pressed": s.selected ? "true" : "false",
                  onclick: () => {
                    bc.overrides.scenario = s.scenario;
                    const select = document.getElementById("bc-knob-scenario");
                    if (select) select.value = s.scenario;
                    applyVisibility();
                    recompute({ rebuildKnobs: false });
                  },
                },
                SCENARIO_SHORT[s.scenario] || s.label,
              ),
            ),
            h("td", { class: "num" }, euro(s.npv)),
            h("td", { class: "num" }, s.irr === null ? "—" : percent(s.irr)),
            h("td", { class: "num" }, s.break_even_rent === null ? "—" : euro(s.break_even_rent)),
          ),
        ),
      ),
    ),
  ]);
}

function renderAdvice(answer) {
  const suggestions = answer.suggestions || [];
  const notes = answer.notes || [];
  fill($("bc-advice"), [
    suggestions.length
      ? [
          h("h3", {}, "Suggesties"),
          h(
            "ul",
            { class: "bc-suggestions" },
            suggestions.map((s) =>
              h(
                "li",
                {},
                s.text,
                " ",
                h(
                  "button",
                  {
                    type: "button",
                    class: "btn btn-secondary btn-small",
                    "data-testid": `bc-suggestion-${s.knob}`,
                    onclick: () => {
                      bc.overrides[s.knob] = String(s.value);
                      const el = document.getElementById(`bc-knob-${s.knob}`);
                      if (el && el.type === "checkbox") el.checked = s.value === true;
                      else if (el) el.value = String(s.value);
                      applyVisibility();
                      recompute({ rebuildKnobs: false });
                    },
                  },
                  "Toepassen",
                ),
              ),
            ),
          ),
        ]
      : null,
    notes.length ? [h("h3", {}, "Toelichting"), h("ul", { class: "bc-notes" }, notes.map((n) => h("li", {}, n)))] : null,
  ]);
}

export const __bc = bc; // test and debugging hook
