// Builds the dashboard into gateway/dashboard/ (committed; the gateway renders those files
// into Envoy's config as direct responses): app.js (this app and the TypeScript SDK,
// bundled and minified by esbuild), uplot.js (uPlot's own minified IIFE build, unchanged),
// app.css (uPlot's stylesheet and the app's), index.html. `make dashboard` runs it.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";

// DASHBOARD_OUT: another folder (tests/sdk/test_dashboard_browser.py checks the committed build is fresh).
const out = process.env.DASHBOARD_OUT
  ? new URL(`file://${process.env.DASHBOARD_OUT.replace(/\/?$/, "/")}`)
  : new URL("../gateway/dashboard/", import.meta.url);
mkdirSync(out, { recursive: true });
await build({
  entryPoints: ["src/main.ts"], bundle: true, minify: true, format: "iife", target: "es2020",
  outfile: new URL("app.js", out).pathname, legalComments: "none", logLevel: "warning",
});
copyFileSync("node_modules/uplot/dist/uPlot.iife.min.js", new URL("uplot.js", out));
writeFileSync(new URL("app.css", out),
  readFileSync("node_modules/uplot/dist/uPlot.min.css", "utf8") + "\n" + readFileSync("src/app.css", "utf8"));
copyFileSync("src/index.html", new URL("index.html", out));
