// Orientation without the basemap: when the PDOK basemap cannot be reached (or none is
// configured), place and street names and the water come from the service's own data
// (GET /api/orientation: the scan's orientatie_namen and orientatie_water layers, scoped).
// Labels are HTML (Leaflet divIcons): no font files are needed.

import L from "leaflet";
import { api } from "./api.js";

export function createOrientation(map) {
  const water = L.geoJSON(null, {
    pane: "orientationPane",
    interactive: false,
    style: { color: "#7fb0d8", weight: 1, fillColor: "#b9d7ee", fillOpacity: 0.9 },
  });
  const labels = L.layerGroup([], { pane: "labelsPane" });
  const pane = map.createPane("orientationPane");
  pane.style.zIndex = "250";
  const lpane = map.createPane("labelsPane");
  lpane.style.zIndex = "460";
  lpane.style.pointerEvents = "none";
  let active = false;
  let request = 0;

  async function refresh() {
    if (!active) return;
    const b = map.getBounds();
    const id = ++request;
    const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(5)).join(",");
    let data;
    try {
      data = await api(`/api/orientation?bbox=${bbox}&zoom=${Math.round(map.getZoom())}`);
    } catch {
      return;
    }
    if (id !== request || !active) return;
    water.clearLayers();
    water.addData(data.water);
    labels.clearLayers();
    for (const n of data.names) {
      L.marker([n.lat, n.lon], {
        pane: "labelsPane",
        interactive: false,
        keyboard: false,
        icon: L.divIcon({ className: `kk-label kk-label-${n.soort}`, html: "", iconSize: null }),
      })
        .on("add", (e) => {
          const el = e.target.getElement();
          if (el) el.textContent = n.naam; // text only, never HTML from data
        })
        .addTo(labels);
    }
    window.__kk.orientation = { names: data.names.length, water: data.water.features.length };
  }

  map.on("moveend", refresh);
  return {
    enable() {
      if (active) return;
      active = true;
      water.addTo(map);
      labels.addTo(map);
      refresh();
    },
    get active() {
      return active;
    },
  };
}
