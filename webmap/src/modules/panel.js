// The side panel: a site's full score breakdown, or the answer to "waarom hier niet?".

import { fill, h } from "./dom.js";
import { TIER_COLORS } from "./style.js";
import {
  AVAILABILITY_NAMES,
  EXTRA_FACTS,
  LAYER_NAMES,
  OPPORTUNITY_NAMES,
  OWNER_NAMES,
  SOURCE_NAMES,
  formatDate,
  formatNumber,
  homes,
  tierName,
} from "./text.js";

export function tierBadge(tier) {
  const color = TIER_COLORS[tier] || "#888";
  return h(
    "span",
    { class: `tier-badge tier-${tier}`, style: { background: color } },
    h("span", { class: "tier-letter" }, tier || "?"),
  );
}

function weightText(weight, allFractions) {
  if (weight === null || weight === undefined) return "—";
  return allFractions ? `${formatNumber(Number(weight) * 100, 0)}%` : formatNumber(weight, 2);
}

function criterionValue(c) {
  if (c.raw_text) return c.raw_text;
  if (c.raw === null || c.raw === undefined) return "geen gegevens";
  if (typeof c.raw === "boolean") return c.raw ? "ja" : "nee";
  return formatNumber(c.raw, 1);
}

/** Render GET /api/sites/{layer}/{site_id} into the panel body; returns the title. */
export function renderSite(body, feature, layerId, gemeenteNaam) {
  const p = feature.properties || {};
  const explanation = typeof p.explanation === "string" ? safeJson(p.explanation) : p.explanation || {};
  const criteria = Array.isArray(explanation.criteria) ? explanation.criteria : [];
  const sources = feature.sources || p.sources || [];
  const title = p.label || p.site_id;

  const typeName = OPPORTUNITY_NAMES[p.opportunity_type] || LAYER_NAMES[layerId] || layerId;
  const gemeente = p.gemeentenaam || gemeenteNaam || p.gemeentecode;

  const penalties = Array.isArray(explanation.penalties) ? explanation.penalties : [];
  const attention = Array.isArray(explanation.aandachtspunten) ? explanation.aandachtspunten : [];
  const availability = explanation.availability || null;
  const capacity = explanation.capacity || null;
  const disclaimer = explanation.disclaimer || "";
  const notes = (Array.isArray(explanation.notes) ? explanation.notes : []).filter((n) => n !== disclaimer);

  const allFractions = criteria.every((c) => c.weight === null || c.weight === undefined || Number(c.weight) <= 1);
  // Sub-scores are 0–1 in the result (the score is 0–100): show them on the score's scale.
  const subScale = criteria.every((c) => c.subscore === null || c.subscore === undefined || Number(c.subscore) <= 1) ? 100 : 1;

  fill(body, [
    h("p", { class: "panel-kicker" }, `${typeName} · ${gemeente}`),
    h(
      "div",
      { class: "score-line", "data-testid": "site-score" },
      tierBadge(p.tier),
      h(
        "div",
        {},
        h("div", { class: "score-big" }, `Score ${formatNumber(p.score, 1)}`, h("span", { class: "muted" }, " van 100")),
        h("div", { class: "score-tier" }, `Klasse ${p.tier}: ${tierName(p.tier).toLowerCase()}`),
      ),
    ),
    availability
      ? h(
          "div",
          { class: `availability availability-${availability.case}`, "data-testid": "site-availability" },
          h("strong", {}, AVAILABILITY_NAMES[availability.case] || availability.case),
          h("span", {}, ` ${availability.text || ""}`),
        )
      : null,
    explanation.tier_cap
      ? h("p", { class: "tier-cap small", "data-testid": "site-tier-cap" }, `Hooguit klasse ${explanation.tier_cap.max_tier}: ${explanation.tier_cap.reason}`)
      : null,
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Geschatte capaciteit"),
      h(
        "dd",
        { "data-testid": "site-capacity" },
        capacity && capacity.text ? capacity.text.replace(/^Circa /, "circa ") : homes(p.capacity_units),
        !(capacity && capacity.text) &&
          p.capacity_low !== undefined && p.capacity_low !== null && p.capacity_high !== undefined && p.capacity_high !== null
          ? ` (${formatNumber(p.capacity_low, 0)}–${formatNumber(p.capacity_high, 0)})`
          : "",
      ),
      h("dt", {}, "Eigenaar"),
      h("dd", {}, OWNER_NAMES[p.owner_class] || p.owner_class || "onbekend"),
      p.rank !== undefined && p.rank !== null ? [h("dt", {}, "Rangorde"), h("dd", {}, `${p.rank} in ${gemeente} (deze soort)`)] : null,
      EXTRA_FACTS.filter(([key]) => p[key] !== undefined && p[key] !== null && p[key] !== "").map(([key, label, fmt]) => [
        h("dt", {}, label),
        h("dd", {}, fmt(p[key])),
      ]),
      h("dt", {}, "Kenmerk"),
      h("dd", { class: "mono" }, p.site_id),
    ),
    h("h3", {}, "Waarom deze score?"),
    criteria.length
      ? h(
          "table",
          { class: "criteria", "data-testid": "criteria-table" },
          h("caption", { class: "visually-hidden" }, "Score per criterium"),
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              h("th", { scope: "col" }, "Criterium"),
              h("th", { scope: "col" }, "Waarde"),
              h("th", { scope: "col", class: "num" }, "Deelscore"),
              h("th", { scope: "col", class: "num" }, "Gewicht"),
            ),
          ),
          h(
            "tbody",
            {},
            criteria.map((c) => [
              h(
                "tr",
                { class: "criterion-row", "data-criterion": c.id },
                h("th", { scope: "row" }, c.label || c.id),
                h("td", {}, criterionValue(c)),
                h("td", { class: "num" }, c.subscore === null || c.subscore === undefined ? "—" : formatNumber(Number(c.subscore) * subScale, 0)),
                h("td", { class: "num" }, weightText(c.weight, allFractions)),
              ),
              h("tr", { class: "reason-row" }, h("td", { colspan: "4" }, c.reason || "")),
            ]),
          ),
        )
      : h("p", {}, "Voor deze locatie is geen onderbouwing per criterium beschikbaar."),
    penalties.length
      ? h(
          "ul",
          { class: "penalties small", "data-testid": "site-penalties" },
          penalties.map((pen) =>
            h("li", {}, h("strong", {}, `${pen.label}: −${formatNumber(pen.penalty, 1)} punten. `), pen.reason || ""),
          ),
        )
      : null,
    explanation.aggregation === "weighted_sum"
      ? h(
          "p",
          { class: "muted small" },
          "Deelscores lopen van 0 tot 100; de score is hun gewogen gemiddelde, min de aftrek. Afstand of rust levert nooit punten op.",
        )
      : null,
    h("h3", {}, "Aandachtspunten"),
    attention.length
      ? h(
          "ul",
          { class: "attention", "data-testid": "site-aandachtspunten" },
          attention.map((a) => h("li", {}, a.text, h("span", { class: "muted small" }, ` (bron: ${a.source})`))),
        )
      : h("p", { class: "muted", "data-testid": "site-aandachtspunten" }, "Geen aandachtspunten gevonden in de beschikbare bronnen."),
    notes.length ? [h("h3", {}, "Opmerkingen"), h("ul", {}, notes.map((n) => h("li", {}, n)))] : null,
    h("h3", {}, "Bronnen"),
    sources.length
      ? h(
          "ul",
          { class: "sources", "data-testid": "site-sources" },
          sources.map((s) => h("li", {}, h("strong", {}, SOURCE_NAMES[s.source] || s.source), ` — peildatum ${formatDate(s.date)}`)),
        )
      : h("p", { class: "muted" }, "Geen bronnen vermeld."),
    disclaimer ? h("p", { class: "disclaimer", "data-testid": "site-disclaimer" }, disclaimer) : null,
  ]);
  // Status and note right below the key facts (filled by status.js).
  const facts = body.querySelector(".facts");
  const statusBox = h("div", { id: "site-status" });
  if (facts) facts.after(statusBox);
  else body.append(statusBox);
  return title;
}

/** Render GET /api/why into the panel body; onSite(layer, site_id) opens a candidate. */
export function renderWhy(body, answer, onSite) {
  const candidates = answer.candidates || [];
  const parcel = answer.parcel;
  const building = answer.building;
  fill(body, [
    h("p", { class: "why-summary", "data-testid": "why-summary" }, answer.summary || "Geen toelichting beschikbaar."),
    candidates.length
      ? [
          h("h3", {}, "Kansen op deze plek"),
          h(
            "ul",
            { class: "candidates" },
            candidates.map((c) =>
              h(
                "li",
                {},
                h(
                  "button",
                  { type: "button", class: "link-button", onclick: () => onSite(c.layer, c.site_id) },
                  tierBadge(c.tier),
                  ` ${LAYER_NAMES[c.layer] || c.layer}: score ${formatNumber(c.score, 1)}`,
                ),
              ),
            ),
          ),
        ]
      : null,
    parcel
      ? [
          h("h3", {}, "Perceel"),
          h("p", { "data-testid": "why-parcel-name" }, parcel.naam || `Perceel ${parcel.parcel_id}`),
          reasonList(parcel.reasons, "Dit perceel is geen kandidaat, maar er is geen reden vastgelegd."),
        ]
      : null,
    building
      ? [
          h("h3", {}, "Pand"),
          h("p", {}, building.naam || `Pand ${building.pand_id}`),
          h("h4", {}, "Als kantoor om te bouwen"),
          reasonList(building.kantoor_reasons, "Geen bezwaar vastgelegd."),
          h("h4", {}, "Als winkelplint om te bouwen"),
          reasonList(building.plint_reasons, "Geen winkelruimte in dit pand."),
        ]
      : null,
    !parcel && !building && !candidates.length
      ? h("p", { class: "muted" }, "Op dit punt ligt geen perceel uit de scan.")
      : null,
    !building
      ? h(
          "p",
          { class: "muted" },
          "Panden zonder kantoor- of winkelruimte komen niet in aanmerking voor kantoor- of plinttransformatie.",
        )
      : null,
  ]);
}

function reasonList(reasons, emptyText) {
  const list = Array.isArray(reasons) ? reasons : reasons ? String(reasons).split("\n") : [];
  if (!list.length) return h("p", { class: "muted" }, emptyText);
  return h("ul", { class: "reasons" }, list.map((r) => h("li", {}, r)));
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return {};
  }
}
