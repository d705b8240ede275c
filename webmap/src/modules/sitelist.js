// The site table (GET /api/sites.json): all sites in view or in the user's municipalities, with
// the map's filters, sortable by any column, filterable by text; CSV and Excel links carry the
// very same query (/api/sites.csv, /api/sites.xlsx), so a file holds exactly what the table shows.
// Choosing a row zooms to the site and outlines it.

import { api } from "./api.js";
import { $, h } from "./dom.js";

export function createSiteList(ctx) {
  let sort = "-score";
  let timer = null;
  let request = 0;

  function query() {
    const p = new URLSearchParams(ctx.filterQuery());
    if ($("list-scope").value === "view" && ctx.state.map) {
      const b = ctx.state.map.getBounds();
      p.set("bbox", [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(6)).join(","));
    }
    if ($("list-layer").value) p.set("layer", $("list-layer").value);
    const text = $("list-text").value.trim();
    if (text) p.set("q", text);
    p.set("sort", sort);
    return p.toString();
  }

  async function refresh() {
    if ($("list-drawer").hidden) return;
    const q = query();
    const id = ++request;
    $("list-csv").href = `/api/sites.csv?${q}`;
    $("list-xlsx").href = `/api/sites.xlsx?${q}`;
    $("list-csv").hidden = $("list-xlsx").hidden = !ctx.state.me.can_export;
    const data = await api(`/api/sites.json?${q}`);
    if (id !== request) return;
    const table = $("site-table");
    table.tHead.replaceChildren(
      h(
        "tr",
        {},
        data.columns.map((c) => {
          const active = sort === c.key || sort === `-${c.key}`;
          const dir = active ? (sort.startsWith("-") ? "descending" : "ascending") : "none";
          return h(
            "th",
            { scope: "col", "aria-sort": dir },
            h(
              "button",
              {
                type: "button",
                "data-key": c.key,
                onclick: () => {
                  sort = sort === `-${c.key}` ? c.key : `-${c.key}`;
                  refresh();
                },
              },
              c.title,
              active ? (sort.startsWith("-") ? " ▼" : " ▲") : "",
            ),
          );
        }),
      ),
    );
    table.tBodies[0].replaceChildren(
      ...data.rows.map((r) =>
        h(
          "tr",
          {
            class: "clickable",
            tabindex: "0",
            "data-site": `${r.layer_id}/${r.site_id}`,
            onclick: () => ctx.openSite(r.layer_id, r.site_id, { zoom: true }),
            onkeydown: (e) => {
              if (e.key === "Enter") ctx.openSite(r.layer_id, r.site_id, { zoom: true, focus: true });
            },
          },
          r.cells.map((c) => h("td", {}, c)),
        ),
      ),
    );
    $("list-summary").textContent =
      data.shown < data.total ? `${data.summary} De eerste ${data.shown} staan in de tabel; de downloads bevatten alle.` : data.summary;
    window.__kk.list = { query: q, rows: data.rows.length };
  }

  const later = () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  };
  $("list-open").addEventListener("click", () => {
    $("progress-drawer").hidden = true;
    $("list-drawer").hidden = false;
    refresh();
  });
  $("list-close").addEventListener("click", () => {
    $("list-drawer").hidden = true;
  });
  $("list-scope").addEventListener("change", refresh);
  $("list-layer").addEventListener("change", refresh);
  $("list-text").addEventListener("input", later);
  return { refresh: later, reset: () => { sort = "-score"; $("list-text").value = ""; $("list-drawer").hidden = true; } };
}
