// The map state in the URL (after "#", so it never reaches a server log): municipality, layers,
// filters, selected site and view. A shared link opens only after login, and whatever in it lies
// outside the receiver's scope is ignored (the server refuses it anyway).

const LAYER_KEYS = { tijdelijke_locaties: "tl", kantoren: "kt", plinten: "pl" };
const KEY_LAYERS = Object.fromEntries(Object.entries(LAYER_KEYS).map(([k, v]) => [v, k]));

export function readHash(hash = window.location.hash) {
  const p = new URLSearchParams(hash.replace(/^#/, ""));
  const out = {};
  if (p.has("g")) out.gemeente = p.get("g").toUpperCase();
  if (p.has("t")) out.tiers = [...new Set(p.get("t").toUpperCase().split(""))].filter((t) => "ABCDE".includes(t));
  if (p.has("l")) out.layers = p.get("l").split(",").map((k) => KEY_LAYERS[k]).filter(Boolean);
  if (p.has("s")) out.min_score = Math.max(0, Math.min(100, Number(p.get("s")) || 0));
  if (p.has("c")) out.min_capacity = Math.max(0, Math.floor(Number(p.get("c")) || 0));
  if (p.has("o")) out.owner_class = p.get("o");
  if (p.has("sel")) {
    const [layer, ...rest] = p.get("sel").split("/");
    if (KEY_LAYERS[layer] && rest.length) out.selected = { layerId: KEY_LAYERS[layer], siteId: rest.join("/") };
  }
  if (p.has("v")) {
    const [z, lat, lng] = p.get("v").split("/").map(Number);
    if ([z, lat, lng].every(Number.isFinite)) out.view = { zoom: z, lat, lng };
  }
  if (p.get("m") === "voortgang") out.progress = true;
  return out;
}

export function writeHash(s) {
  const p = new URLSearchParams();
  if (s.filters.gemeente) p.set("g", s.filters.gemeente);
  p.set("t", (s.filters.tiers || []).join(""));
  const visible = Object.entries(s.visible).filter(([, v]) => v !== false).map(([k]) => LAYER_KEYS[k]).filter(Boolean);
  p.set("l", visible.join(","));
  if (Number(s.filters.min_score) > 0) p.set("s", String(s.filters.min_score));
  if (Number(s.filters.min_capacity) > 0) p.set("c", String(s.filters.min_capacity));
  if (s.filters.owner_class) p.set("o", s.filters.owner_class);
  if (s.selected) p.set("sel", `${LAYER_KEYS[s.selected.layerId]}/${s.selected.siteId}`);
  if (s.map) {
    const c = s.map.getCenter();
    p.set("v", `${s.map.getZoom()}/${c.lat.toFixed(5)}/${c.lng.toFixed(5)}`);
  }
  if (s.progressMode) p.set("m", "voortgang");
  const hash = `#${p.toString()}`;
  if (hash !== window.location.hash) window.history.replaceState(null, "", hash);
}

export function clearHash() {
  window.history.replaceState(null, "", window.location.pathname + window.location.search);
}
