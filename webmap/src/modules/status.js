// Status and note of a site in its panel (GET/PUT /api/sites/{layer}/{id}/status), with the
// history; the print button (GET /api/sites/{layer}/{id}.pdf). Notes are plain text:
// everything is set with textContent (dom.js), never as HTML.

import { ApiError, api } from "./api.js";
import { h } from "./dom.js";
import { STATUS_TEXT, formatDate, homes } from "./text.js";

export async function renderStatus(container, layerId, siteId, me) {
  const base = `/api/sites/${encodeURIComponent(layerId)}/${encodeURIComponent(siteId)}`;
  container.replaceChildren(
    h(
      "div",
      { class: "panel-actions" },
      h("a", { class: "btn btn-secondary btn-small", id: "print-sheet", href: `${base}.pdf`, target: "_blank", rel: "noopener" }, "Afdrukken (pdf)"),
    ),
    h("div", { class: "status-box", id: "status-box", "data-testid": "status-box" }, h("p", { class: "muted" }, "Status laden…")),
  );
  const box = container.querySelector("#status-box");
  let answer;
  try {
    answer = await api(`${base}/status`);
  } catch (err) {
    box.replaceChildren(h("p", { class: "muted" }, err instanceof ApiError && err.status === 404 ? "Geen status beschikbaar." : "Status laden lukte niet."));
    return;
  }
  draw(box, answer, base, me);
}

function draw(box, answer, base, me) {
  const s = answer.status;
  const children = [h("h3", {}, "Status en notitie")];
  if (!answer.in_scan) children.push(h("p", { class: "status-gone" }, "Niet meer in de scan — de geschiedenis blijft bewaard."));
  children.push(
    h(
      "p",
      { "data-testid": "status-current" },
      s ? `Status: ${STATUS_TEXT[s.status] || s.status}` : "Status: nieuw (nog niets vastgelegd)",
      s && s.reason ? ` — reden: ${s.reason}` : "",
      s && s.status === "gerealiseerd" ? ` — ${homes(s.homes)} op ${formatDate(s.realised_on)}` : "",
    ),
  );
  if (s && s.note) children.push(h("p", { class: "status-note", "data-testid": "status-note" }, s.note));
  if (s) children.push(h("p", { class: "muted small" }, `Gewijzigd door ${s.updated_by} op ${formatDate(s.updated_at)}.`));
  if (answer.inherited_from) children.push(h("p", { class: "muted small" }, `Overgenomen van ${answer.inherited_from} (dezelfde percelen).`));
  if (answer.can_edit && me.can_set_status) children.push(form(box, answer, base, me));
  if (answer.history && answer.history.length) {
    children.push(
      h("h4", {}, "Geschiedenis"),
      h(
        "ol",
        { class: "history" },
        answer.history.map((e) =>
          h("li", {}, `${formatDate(e.at)} — ${e.user}: ${STATUS_TEXT[e.old_status] || e.old_status || "nieuw"} → ${STATUS_TEXT[e.status] || e.status}`, e.note ? ` (“${e.note}”)` : ""),
        ),
      ),
    );
  }
  box.replaceChildren(...children);
}

function form(box, answer, base, me) {
  const s = answer.status || {};
  const select = h(
    "select",
    { id: "status-select" },
    answer.statuses.map((o) => h("option", { value: o.code, selected: o.code === (s.status || "nieuw") }, o.text)),
  );
  const note = h("textarea", { id: "status-note", maxlength: "4000" });
  note.value = s.note || "";
  const reason = h("input", { id: "status-reason", type: "text", maxlength: "500" });
  reason.value = s.reason || "";
  const homesIn = h("input", { id: "status-homes", type: "number", min: "0", step: "1" });
  homesIn.value = s.homes ?? "";
  const date = h("input", { id: "status-date", type: "date" });
  date.value = s.realised_on || "";
  const reasonRow = h("div", {}, h("label", { for: "status-reason" }, "Reden (bij afgevallen)"), reason);
  const doneRow = h("div", {}, h("label", { for: "status-homes" }, "Aantal woningen gerealiseerd"), homesIn, h("label", { for: "status-date" }, "Datum"), date);
  const msg = h("p", { class: "form-error", role: "alert" });
  const sync = () => {
    reasonRow.hidden = select.value !== "afgevallen";
    doneRow.hidden = select.value !== "gerealiseerd";
  };
  select.addEventListener("change", sync);
  sync();
  const f = h(
    "form",
    { class: "status-form" },
    h("label", { for: "status-select" }, "Status"),
    select,
    reasonRow,
    doneRow,
    h("label", { for: "status-note" }, "Notitie (alleen tekst)"),
    note,
    msg,
    h("button", { type: "submit", class: "btn btn-primary btn-small", id: "status-save" }, "Opslaan"),
  );
  f.addEventListener("submit", async (e) => {
    e.preventDefault();
    msg.textContent = "";
    const body = { status: select.value, note: note.value };
    if (select.value === "afgevallen") body.reason = reason.value;
    if (select.value === "gerealiseerd") {
      body.homes = homesIn.value === "" ? null : Number(homesIn.value);
      body.date = date.value || null;
    }
    try {
      const updated = await api(`${base}/status`, { method: "PUT", body });
      draw(box, updated, base, me);
      box.dispatchEvent(new CustomEvent("kk-status", { bubbles: true }));
    } catch (err) {
      msg.textContent = (err && err.message) || "Opslaan lukte niet.";
    }
  });
  return f;
}
