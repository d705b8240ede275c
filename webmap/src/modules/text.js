// Everything the page says, in Dutch, in one place.

const nf0 = new Intl.NumberFormat("nl-NL", { maximumFractionDigits: 0 });
const nf1 = new Intl.NumberFormat("nl-NL", { maximumFractionDigits: 1 });
const nf2 = new Intl.NumberFormat("nl-NL", { maximumFractionDigits: 2 });

export function formatNumber(value, digits = 1) {
  if (value === null || value === undefined || value === "") return "—";
  const n = Number(value);
  if (!Number.isFinite(n)) return String(value);
  return (digits === 0 ? nf0 : digits === 2 ? nf2 : nf1).format(n);
}

export function formatDate(value) {
  if (!value) return "onbekend";
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  const hasTime = /T\d\d:/.test(String(value));
  return d.toLocaleDateString("nl-NL", {
    day: "numeric",
    month: "long",
    year: "numeric",
    ...(hasTime ? { hour: "2-digit", minute: "2-digit" } : {}),
  });
}

export const LAYER_NAMES = {
  tijdelijke_locaties: "Tijdelijke locaties",
  kantoren: "Kantoren ombouwen",
  plinten: "Winkelplinten ombouwen",
  gemeenten: "Gemeenten (overzicht)",
};

export const LAYER_EXPLANATIONS = {
  tijdelijke_locaties: "Lege kavels voor tijdelijke woningen.",
  kantoren: "(Deels) leegstaande kantoorpanden.",
  plinten: "Leegstaande winkelruimtes op de begane grond.",
};

export const OPPORTUNITY_NAMES = {
  tijdelijke_locatie: "Tijdelijke locatie",
  kantoortransformatie: "Kantoortransformatie",
  plinttransformatie: "Plinttransformatie",
};

export const OWNER_NAMES = {
  provincie: "Provincie",
  gemeente: "Gemeente",
  rijk: "Rijk",
  corporatie: "Woningcorporatie",
  overig: "Overig (particulier of bedrijf)",
  onbekend: "Onbekend",
};

export const ROLE_NAMES = {
  beleidsmaker: "beleidsmaker",
  provincie: "provincie",
  analist: "analist",
  beheerder: "beheerder",
};

// Plain-Dutch meaning of each tier (default thresholds of the scan configuration).
export const TIERS = [
  { tier: "A", name: "Zeer kansrijk", range: "80–100", text: "als eerste verkennen" },
  { tier: "B", name: "Kansrijk", range: "65–80", text: "goede plek, een enkel aandachtspunt" },
  { tier: "C", name: "Mogelijk", range: "50–65", text: "vraagt nader onderzoek" },
  { tier: "D", name: "Weinig kansrijk", range: "35–50", text: "meerdere belemmeringen" },
  { tier: "E", name: "Niet kansrijk", range: "onder 35", text: "alleen als er niets beters is" },
];

export function tierName(tier) {
  const t = TIERS.find((x) => x.tier === tier);
  return t ? t.name : "onbekend";
}

export const AVAILABILITY_NAMES = {
  geen_plan: "Beschikbaar voor de volle termijn.",
  tot_ontwikkeling: "Tijdelijk tot ontwikkeling.",
};

export const EXTRA_FACTS = [
  ["area_m2", "Oppervlakte", (v) => `${formatNumber(v, 0)} m²`],
  ["net_area_m2", "Netto oppervlak", (v) => `${formatNumber(v, 0)} m²`],
  ["beschikbaar_tot", "Beschikbaar tot", (v) => String(Math.round(Number(v)))],
  ["beschikbaar_jaren", "Beschikbaar (jaren)", (v) => formatNumber(v, 0)],
  ["n_parcels", "Aantal percelen", (v) => formatNumber(v, 0)],
  ["parcel_ids", "Percelen", (v) => String(v)],
  ["pand_id", "Pand (BAG)", (v) => String(v)],
  ["vbo_id", "Verblijfsobject (BAG)", (v) => String(v)],
  ["bouwjaar", "Bouwjaar", (v) => String(v)],
  ["office_floor_m2", "Kantooroppervlak", (v) => `${formatNumber(v, 0)} m²`],
  ["vacant_office_floor_m2", "Leegstaand kantooroppervlak", (v) => `${formatNumber(v, 0)} m²`],
  ["capacity_whole_building", "Potentie heel pand", (v) => `${formatNumber(v, 0)} woningen`],
  ["winkelligging", "Ligging winkel", (v) => String(v)],
  ["oppervlakte_m2", "Oppervlakte", (v) => `${formatNumber(v, 0)} m²`],
  ["straatnaam", "Straat", (v) => String(v)],
  ["vacant_share", "Aandeel leegstand", (v) => `${formatNumber(Number(v) * 100, 0)}%`],
  ["vacant_years", "Leegstand (jaren)", (v) => formatNumber(v, 1)],
];

export const MSG = {
  badLogin: "Onjuist e-mailadres of wachtwoord.",
  missingLogin: "Vul uw e-mailadres en wachtwoord in.",
  throttled: (s) =>
    `Te veel inlogpogingen. Probeer het over ${formatWait(s)} opnieuw.`,
  serverDown: "De server is niet bereikbaar. Probeer het later opnieuw.",
  loginFailed: (status) => `Inloggen lukt nu niet (foutcode ${status}). Probeer het later opnieuw.`,
  sessionExpired: "Uw sessie is verlopen. Log opnieuw in.",
  noMapAccess: (role) =>
    `U bent ingelogd als ${role}, maar dit account heeft geen toegang tot de kaart. Log uit en log in met een account van een beleidsmaker of analist.`,
  outside: "Dit punt ligt buiten de gemeenten waarvoor u bevoegd bent.",
  loading: "Bezig met laden…",
  basemapDown: "De achtergrondkaart is niet bereikbaar; de kaart toont een eenvoudige achtergrond.",
  tilesFailed: "Een deel van de kaartlagen kon niet worden geladen. Probeer het opnieuw.",
};

export function formatWait(seconds) {
  const s = Math.max(1, Math.ceil(Number(seconds) || 0));
  if (s < 60) return s === 1 ? "1 seconde" : `${s} seconden`;
  const m = Math.ceil(s / 60);
  return m === 1 ? "1 minuut" : `${m} minuten`;
}

// Names of the inputs (sources.yaml keys) as shown under "Bronnen".
export const SOURCE_NAMES = {
  municipalities: "Gemeentegrenzen (CBS)",
  parcels: "Kadastrale percelen (BRK)",
  buildings: "Gebouwen en verblijfsobjecten (BAG)",
  zoning: "Bestemmingsplannen (IMRO)",
  vacancy: "Leegstandsregistratie",
  ownership: "Eigendom",
  transit_stops: "Haltes openbaar vervoer",
  noise: "Geluidsbelasting (Lden)",
  exclusion_zones: "Uitsluitingsgebieden",
  housing_plans: "Woningbouwplannen (plancapaciteit)",
  bsd: "Bestaand stads- en dorpsgebied (BSD)",
  noise_road: "Geluid wegverkeer (Lden)",
  noise_rail: "Geluid railverkeer (Lden)",
  noise_industry: "Geluid industrie",
  noise_aircraft: "Geluid luchtvaart (Lden)",
};

/** "1 woning", "2 woningen" (the one plural rule of the page). */
export function homes(n) {
  if (n === null || n === undefined || n === "" || !Number.isFinite(Number(n))) return "onbekend aantal woningen";
  const k = Math.round(Number(n));
  return `${formatNumber(k, 0)} ${k === 1 ? "woning" : "woningen"}`;
}

export const STATUS_TEXT = {
  nieuw: "nieuw",
  in_onderzoek: "in onderzoek",
  in_gesprek: "in gesprek met eigenaar",
  afgevallen: "afgevallen",
  in_procedure: "in procedure",
  gerealiseerd: "gerealiseerd",
};
