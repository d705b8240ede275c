// The MapLibre style: one vector source per opportunity layer (from the api's TileJSON), coloured
// by tier; the municipality overview (choropleth of tier A+B capacity) from GET /api/gemeenten.

import palette from "../../../pipeline/styles/palette.json";

// Zoom levels: maplibre-gl-leaflet runs the GL map one zoom level below Leaflet (512 px tiles), so
// GL zoom 10 = Leaflet zoom 11. OVERVIEW_LEAFLET_ZOOM is where sites take over from the overview.

export const OVERVIEW_LEAFLET_ZOOM = 11;
const GL_SWITCH = OVERVIEW_LEAFLET_ZOOM - 1;

// The colours come from the one palette of the project (pipeline/styles/palette.json), which also
// colours the GeoPackage's QGIS styles and the api's style documents (GET /api/styles/{layer}.json).
// Tiers: ColorBrewer RdYlBu, 5 classes (blue = best, red = weakest; colour-blind safe).
export const TIER_COLORS = { ...palette.tiers };
// Sequential palette for the overview (ColorBrewer Purples, 5 classes; colour-blind safe).
export const OVERVIEW_COLORS = [...palette.overview];
const OUTLINE = palette.outline;

/** The palette as CSS custom properties on `root` (legend symbols and badges in styles.css). */
export function applyPaletteToCss(root) {
  for (const [tier, color] of Object.entries(TIER_COLORS)) root.style.setProperty(`--tier-${tier.toLowerCase()}`, color);
  for (const [layer, color] of Object.entries(OUTLINE)) root.style.setProperty(`--outline-${layer}`, color);
}

export const SITE_LAYERS = ["tijdelijke_locaties", "kantoren", "plinten"];

const tierColor = [
  "match",
  ["get", "tier"],
  "A", TIER_COLORS.A,
  "B", TIER_COLORS.B,
  "C", TIER_COLORS.C,
  "D", TIER_COLORS.D,
  "E", TIER_COLORS.E,
  palette.no_tier,
];

/** The style layers drawn for one opportunity layer (ids listed so clicks can query them). */
export function siteStyleLayers(id) {
  const common = { source: id, "source-layer": id, minzoom: GL_SWITCH };
  if (id === "plinten") {
    return [
      {
        id: `${id}-circle`,
        type: "circle",
        ...common,
        paint: {
          "circle-color": tierColor,
          "circle-radius": ["interpolate", ["linear"], ["zoom"], 10, 3.5, 14, 6, 17, 9],
          "circle-stroke-color": OUTLINE.plinten,
          "circle-stroke-width": 1.5,
        },
      },
      {
        id: `${id}-selected`,
        type: "circle",
        ...common,
        filter: ["==", ["get", "site_id"], ""],
        paint: {
          "circle-color": "rgba(0,0,0,0)",
          "circle-radius": ["interpolate", ["linear"], ["zoom"], 10, 8, 14, 11, 17, 14],
          "circle-stroke-color": "#000000",
          "circle-stroke-width": 3.5,
        },
      },
    ];
  }
  const thick = id === "kantoren";
  return [
    {
      id: `${id}-fill`,
      type: "fill",
      ...common,
      paint: { "fill-color": tierColor, "fill-opacity": thick ? 0.85 : 0.7 },
    },
    {
      id: `${id}-line`,
      type: "line",
      ...common,
      paint: {
        "line-color": OUTLINE[id] || OUTLINE.tijdelijke_locaties,
        "line-width": thick ? ["interpolate", ["linear"], ["zoom"], 10, 1.5, 14, 3] : 1,
      },
    },
    {
      id: `${id}-selected`,
      type: "line",
      ...common,
      filter: ["==", ["get", "site_id"], ""],
      paint: { "line-color": "#000000", "line-width": 4 },
    },
  ];
}

/** Ids of the style layers a click may hit (top-most first: points above polygons). */
export function clickableLayerIds(ids) {
  const out = [];
  for (const id of [...ids].sort((a, b) => (a === "plinten" ? -1 : b === "plinten" ? 1 : 0))) {
    out.push(id === "plinten" ? `${id}-circle` : `${id}-fill`);
  }
  return out;
}

/** Class breaks for the overview: five classes from 0 up to the largest capacity (rounded). */
export function overviewBreaks(values) {
  const max = Math.max(0, ...values.filter((v) => Number.isFinite(v)));
  if (max <= 0) return [1, 2, 3, 4];
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10].map((f) => f * mag).find((s) => s >= raw) || raw;
  const whole = Math.max(1, Math.ceil(step)); // homes are counted in whole numbers
  return [1, 2, 3, 4].map((i) => whole * i);
}

export function overviewColor(breaks) {
  return [
    "step",
    ["coalesce", ["to-number", ["get", "capacity_ab"]], 0],
    OVERVIEW_COLORS[0],
    breaks[0], OVERVIEW_COLORS[1],
    breaks[1], OVERVIEW_COLORS[2],
    breaks[2], OVERVIEW_COLORS[3],
    breaks[3], OVERVIEW_COLORS[4],
  ];
}

/**
 * Build the MapLibre style.
 *
 * @param {Array} siteSources [{id, tiles: [absolute template], minzoom, maxzoom, bounds}]
 * @param {object} gemeenten GeoJSON FeatureCollection (WGS84) of the municipalities in scope
 * @param {number[]} breaks overview class breaks
 */
export function buildStyle(siteSources, gemeenten, breaks) {
  const sources = {
    gemeenten: { type: "geojson", data: gemeenten },
  };
  const layers = [
    {
      id: "gemeenten-fill",
      type: "fill",
      source: "gemeenten",
      maxzoom: GL_SWITCH,
      paint: { "fill-color": overviewColor(breaks), "fill-opacity": 0.8 },
    },
  ];
  for (const s of siteSources) {
    sources[s.id] = {
      type: "vector",
      tiles: s.tiles,
      minzoom: s.minzoom ?? 0,
      maxzoom: s.maxzoom ?? 14,
      ...(s.bounds ? { bounds: s.bounds } : {}),
    };
  }
  // Polygons first, points on top.
  const order = [...siteSources.map((s) => s.id)].sort((a, b) =>
    a === "plinten" ? 1 : b === "plinten" ? -1 : a === "tijdelijke_locaties" ? -1 : b === "tijdelijke_locaties" ? 1 : 0,
  );
  for (const id of order) layers.push(...siteStyleLayers(id));
  layers.push(
    {
      id: "gemeenten-line",
      type: "line",
      source: "gemeenten",
      paint: { "line-color": palette.overview_outline, "line-width": ["interpolate", ["linear"], ["zoom"], 6, 1, 12, 2.5] },
    },
    {
      id: "gemeenten-selected",
      type: "line",
      source: "gemeenten",
      filter: ["==", ["get", "gemeentecode"], ""],
      paint: { "line-color": "#000000", "line-width": 4 },
    },
  );
  return { version: 8, sources, layers };
}
