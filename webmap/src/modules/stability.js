// The robustness of a site's tier (kansenkaart sensitivity): shown in the site panel when the
// result holds the column `stabiliteit` (share of random weight draws that keep the tier).

import { h } from "./dom.js";
import { formatNumber } from "./text.js";

export function renderStability(body, feature) {
  const p = (feature && feature.properties) || {};
  if (p.stabiliteit === undefined || p.stabiliteit === null) return;
  const share = Number(p.stabiliteit);
  const draws = Number(p.stabiliteit_trekkingen) || 0;
  const margin = Number(p.stabiliteit_marge) || 0;
  const kept = Math.round(share * draws);
  const verdict = share >= 0.9 ? "robuust" : share >= 0.6 ? "redelijk robuust" : "gevoelig voor de weging";
  body.append(
    h(
      "section",
      { class: "stability", "data-testid": "site-stability", "aria-labelledby": "stability-title" },
      h("h3", { id: "stability-title" }, "Robuustheid van de klasse"),
      h(
        "p",
        {},
        h("strong", {}, `${formatNumber(share * 100, 0)}%`),
        ` — in ${kept} van de ${draws} trekkingen met andere gewichten (elk gewicht ±${formatNumber(margin * 100, 0)}%) ` +
          `blijft deze locatie klasse ${p.tier}: ${verdict}.`,
      ),
    ),
  );
}
