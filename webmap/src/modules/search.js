// Search: address, postcode + house number, kadastrale aanduiding or site id (GET /api/search).
// Choosing a result zooms to it and outlines its site (or marks the place when it has none).

import { ApiError, api } from "./api.js";
import { $, h } from "./dom.js";
import { tierBadge } from "./panel.js";
import { LAYER_NAMES, formatNumber } from "./text.js";

export function wireSearch(ctx) {
  $("search-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const q = $("search-input").value.trim();
    const status = $("search-status");
    const list = $("search-results");
    list.replaceChildren();
    if (q.length < 2) {
      status.textContent = "Typ minstens twee tekens.";
      return;
    }
    status.textContent = "Zoeken…";
    try {
      const answer = await api(`/api/search?q=${encodeURIComponent(q)}`);
      const results = answer.results || [];
      status.textContent = results.length ? `${results.length} gevonden.` : "Niets gevonden in uw gemeente(n).";
      list.replaceChildren(
        ...results.map((r) =>
          h(
            "li",
            {},
            h("button", { type: "button", class: "link-button search-hit", onclick: () => choose(ctx, r) }, r.naam),
            r.sites.length
              ? h(
                  "ul",
                  { class: "search-sites" },
                  r.sites.map((s) =>
                    h(
                      "li",
                      {},
                      h(
                        "button",
                        {
                          type: "button",
                          class: "link-button",
                          onclick: () => ctx.openSite(s.layer, s.site_id, { zoom: true, focus: true }),
                        },
                        tierBadge(s.tier),
                        ` ${s.label || LAYER_NAMES[s.layer]} (score ${formatNumber(s.score, 1)})`,
                      ),
                    ),
                  ),
                )
              : h("span", { class: "muted small" }, " — geen kans op deze plek"),
          ),
        ),
      );
      if (results.length) choose(ctx, results[0]); // the best hit at once; the others stay listed
    } catch (err) {
      status.textContent = err instanceof ApiError && err.status === 422 ? err.message : "Zoeken lukte niet.";
    }
  });
}

function choose(ctx, r) {
  if (r.sites.length) {
    const s = r.sites[0];
    ctx.openSite(s.layer, s.site_id, { zoom: true, focus: true });
  } else if (r.lat !== null && r.lon !== null) {
    ctx.whyAtPlace({ lat: r.lat, lng: r.lon });
  }
}
