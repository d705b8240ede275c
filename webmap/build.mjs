// Build the web map into self-contained static files for the api: ../api/static/dist/.
// esbuild bundles src/main.js (Leaflet, MapLibre GL, the plugin) and every imported CSS file
// (Leaflet's and MapLibre's included) into app.js + app.css; images referenced by that CSS are
// copied next to them. Nothing is loaded from a CDN at run time.
import * as esbuild from "esbuild";
import { cpSync, mkdirSync, rmSync, renameSync, existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

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
  await esbuild.build({ ...options, outdir: tmpDir });
  copyStatic(tmpDir);
  mkdirSync(dirname(outDir), { recursive: true });
  if (existsSync(outDir)) rmSync(outDir, { recursive: true, force: true });
  renameSync(tmpDir, outDir);
  console.log(`built ${outDir}`);
}
