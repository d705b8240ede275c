// Progress per municipality (GET /api/progress; PUT /api/progress/{code} for the provincie role):
// the municipalities coloured by progress, with a legend and a table; a policy maker sees their
// own municipalities.

import { api } from "./api.js";
import { $, h } from "./dom.js";
import { formatDate, formatNumber } from "./text.js";

// Sequential, colour-blind safe (ColorBrewer YlGn, 4 classes).
export const PROGRESS_COLORS = ["#ffffcc", "#c2e699", "#78c679", "#238443"];

export function createProgress(ctx) {
  let data = null;

  async function load() {
    data = await api("/api/progress");
    const byCode = Object.fromEntries(data.gemeenten.map((g) => [g.gemeentecode, g]));
    for (const f of ctx.state.gemeenten.features) {
      const g = byCode[f.properties.gemeentecode];
      f.properties.fase = g ? g.fase : 0;
    }
    ctx.setProgressColours(true, PROGRESS_COLORS);
    render();
    window.__kk.progress = data.gemeenten.map((g) => ({ code: g.gemeentecode, fase: g.fase }));
  }

  function render() {
    $("progress-legend").replaceChildren(
      ...data.fasen.map((t, i) =>
        h("li", {}, h("span", { class: "swatch", style: { background: PROGRESS_COLORS[i] }, "aria-hidden": "true" }), h("span", {}, t)),
      ),
    );
    const table = $("progress-table");
    table.tHead.replaceChildren(
      h(
        "tr",
        {},
        ["Gemeente", "Voortgang", "Woonvisie", "Prestatieafspraken", "Gerealiseerd", "Gepland", "Opmerking", ""].map((t) => h("th", { scope: "col" }, t)),
      ),
    );
    table.tBodies[0].replaceChildren(
      ...data.gemeenten.map((g) =>
        h(
          "tr",
          { "data-gemeente": g.gemeentecode },
          h("td", {}, g.gemeentenaam),
          h("td", { class: "fase" }, g.fase_tekst),
          h("td", {}, doc(g.woonvisie)),
          h("td", {}, doc(g.prestatieafspraken)),
          h("td", { class: "num" }, formatNumber(g.gerealiseerd, 0)),
          h("td", { class: "num" }, formatNumber(g.gepland, 0)),
          h("td", {}, g.opmerking || ""),
          h(
            "td",
            {},
            data.can_edit
              ? h("button", { type: "button", class: "btn btn-secondary btn-small", onclick: () => edit(g) }, `Bewerk ${g.gemeentenaam}`)
              : "",
          ),
        ),
      ),
    );
  }

  function doc(d) {
    if (!d || !d.opgenomen) return "nee";
    return `ja${d.datum ? `, ${formatDate(d.datum)}` : ""}${d.bron ? ` (${d.bron})` : ""}`;
  }

  function edit(g) {
    const f = $("progress-form");
    const box = (key, label) => {
      const d = g[key] || {};
      const cb = h("input", { type: "checkbox", id: `pf-${key}`, checked: Boolean(d.opgenomen) });
      const date = h("input", { type: "date", id: `pf-${key}-datum` });
      date.value = d.datum || "";
      const src = h("input", { type: "text", id: `pf-${key}-bron`, maxlength: "300" });
      src.value = d.bron || "";
      return [
        h("label", { for: `pf-${key}` }, cb, ` Flexwonen staat in de ${label}`),
        h("label", { for: `pf-${key}-datum` }, "Datum"),
        date,
        h("label", { for: `pf-${key}-bron` }, "Link of documentnaam"),
        src,
      ];
    };
    const planned = (g.projecten || []).filter((p) => p.status === "gepland").reduce((a, p) => a + p.woningen, 0);
    const realised = (g.projecten || []).filter((p) => p.status === "gerealiseerd").reduce((a, p) => a + p.woningen, 0);
    const plannedIn = h("input", { type: "number", min: "0", id: "pf-gepland" });
    plannedIn.value = String(planned);
    const realisedIn = h("input", { type: "number", min: "0", id: "pf-gerealiseerd" });
    realisedIn.value = String(realised);
    const note = h("textarea", { id: "pf-opmerking", maxlength: "4000" });
    note.value = g.opmerking || "";
    const msg = h("p", { class: "form-error", role: "alert" });
    f.replaceChildren(
      h("h3", {}, `Voortgang ${g.gemeentenaam}`),
      ...box("woonvisie", "woonvisie"),
      ...box("prestatieafspraken", "prestatieafspraken"),
      h("label", { for: "pf-gepland" }, "Flexwoningen gepland in projecten buiten de scan"),
      plannedIn,
      h("label", { for: "pf-gerealiseerd" }, "Flexwoningen gerealiseerd in projecten buiten de scan"),
      realisedIn,
      h("label", { for: "pf-opmerking" }, "Opmerking"),
      note,
      msg,
      h("button", { type: "submit", class: "btn btn-primary btn-small", id: "pf-save" }, "Opslaan"),
    );
    f.hidden = false;
    f.onsubmit = async (e) => {
      e.preventDefault();
      const docOf = (key) => ({
        opgenomen: $(`pf-${key}`).checked,
        datum: $(`pf-${key}-datum`).value || null,
        bron: $(`pf-${key}-bron`).value.trim() || null,
      });
      const projecten = [];
      if (Number(plannedIn.value) > 0) projecten.push({ naam: "Projecten buiten de scan (gepland)", woningen: Number(plannedIn.value), status: "gepland" });
      if (Number(realisedIn.value) > 0) projecten.push({ naam: "Projecten buiten de scan (gerealiseerd)", woningen: Number(realisedIn.value), status: "gerealiseerd" });
      try {
        await api(`/api/progress/${encodeURIComponent(g.gemeentecode)}`, {
          method: "PUT",
          body: { woonvisie: docOf("woonvisie"), prestatieafspraken: docOf("prestatieafspraken"), projecten, opmerking: note.value },
        });
        f.hidden = true;
        await load();
      } catch (err) {
        msg.textContent = (err && err.message) || "Opslaan lukte niet.";
      }
    };
  }

  async function open() {
    $("list-drawer").hidden = true;
    $("progress-drawer").hidden = false;
    ctx.state.progressMode = true;
    ctx.toOverview();
    await load();
    ctx.changed();
  }
  function close() {
    $("progress-drawer").hidden = true;
    $("progress-form").hidden = true;
    ctx.state.progressMode = false;
    ctx.setProgressColours(false);
    ctx.changed();
  }
  $("progress-open").addEventListener("click", open);
  $("progress-close").addEventListener("click", close);
  return { open, close };
}
