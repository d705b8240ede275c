// Build the web map into self-contained static files for the api: ../api/static/dist/.
// esbuild bundles src/main.js (Leaflet, MapLibre GL, the plugin) and every imported CSS file
// (Leaflet's and MapLibre's included) into app.js + app.css; images referenced by that CSS are
// copied next to them. Nothing is loaded from a CDN at run time.
//
// A build (not --watch) names the bundle by its content (app-<hash>.js, app-<hash>.css; index.html
// is rewritten to name them), so the api can let browsers keep them for a year (a new build has new
// names), and writes a gzip copy (<file>.gz, level 9) of every text file gzip makes smaller for clients that accept
// gzip (api/http.py: PageFiles).
import * as esbuild from "esbuild";
import {
  cpSync,
  mkdirSync,
  rmSync,
  renameSync,
  existsSync,
  readFileSync,
  readdirSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync, constants } from "node:zlib";

const here = dirname(fileURLToPath(import.meta.url));
const outDir = resolve(here, "..", "api", "static", "dist");
const tmpDir = `${outDir}.tmp-${process.pid}`;
const watch = process.argv.includes("--watch");

const options = {
  entryPoints: { app: join(here, "src", "main.js") },
  bundle: true,
  minify: !watch,
  sourcemap: watch ? "inline" : false,
  format: "iife",
  target: ["es2020"],
  legalComments: "linked",
  loader: { ".png": "file", ".svg": "file" },
  assetNames: "assets/[name]-[hash]",
  logLevel: "warning",
};

function copyStatic(dir) {
  cpSync(join(here, "src", "index.html"), join(dir, "index.html"));
  cpSync(join(here, "src", "favicon.svg"), join(dir, "favicon.svg"));
}

// index.html names the hashed bundle instead of app.js/app.css.
function nameBundle(dir, metafile) {
  const js = Object.entries(metafile.outputs).find(([, out]) => out.entryPoint);
  if (!js || !js[1].cssBundle) throw new Error("esbuild wrote no app-<hash>.js with its CSS bundle");
  const page = join(dir, "index.html");
  let html = readFileSync(page, "utf8");
  for (const [plain, built] of [
    ['src="app.js"', `src="${basename(js[0])}"`],
    ['href="app.css"', `href="${basename(js[1].cssBundle)}"`],
  ]) {
    if (!html.includes(plain)) throw new Error(`webmap/src/index.html does not contain ${plain}`);
    html = html.replace(plain, built);
  }
  writeFileSync(page, html);
}

// A gzip copy next to every text file it makes smaller by 10 % or more (the api sends it to
// clients that accept gzip).
function precompress(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) precompress(path);
    else if (/\.(js|css|html|svg|txt|json)$/.test(entry.name)) {
      const raw = readFileSync(path);
      const packed = gzipSync(raw, { level: constants.Z_BEST_COMPRESSION });
      if (packed.length < 0.9 * raw.length) writeFileSync(`${path}.gz`, packed); // else not worth it
    }
  }
}

if (watch) {
  mkdirSync(outDir, { recursive: true });
  copyStatic(outDir);
  const ctx = await esbuild.context({ ...options, outdir: outDir });
  await ctx.watch();
  console.log(`watching; writing to ${outDir}`);
} else {
  // Build into a temp folder, then swap it in: a failed build never leaves a half-written page.
  rmSync(tmpDir, { recursive: true, force: true });
  mkdirSync(tmpDir, { recursive: true });
  const built = await esbuild.build({
    ...options,
    outdir: tmpDir,
    entryNames: "[name]-[hash]",
    metafile: true,
  });
  copyStatic(tmpDir);
  nameBundle(tmpDir, built.metafile);
  precompress(tmpDir);
  mkdirSync(dirname(outDir), { recursive: true });
  if (existsSync(outDir)) rmSync(outDir, { recursive: true, force: true });
  renameSync(tmpDir, outDir);
  console.log(`built ${outDir}`);
}
