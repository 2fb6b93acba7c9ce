// Writes the landing page (dist/index.html) and the API reference
// (dist/docs/): Swagger UI from node_modules, fingerprinted, started by a
// script file rather than inline code, since pages allow scripts from 'self' only.
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const web = join(dirname(new URL(import.meta.url).pathname), "..");
const dist = join(web, "dist");
const swagger = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));

// Vite has just written dist/admin afresh; everything else is this script's.
for (const name of readdirSync(dist)) {
  if (name !== "admin") rmSync(join(dist, name), { recursive: true });
}

function fingerprinted(bytes, name) {
  const hash = createHash("sha256").update(bytes).digest("hex").slice(0, 10);
  const dot = name.lastIndexOf(".");
  return `${name.slice(0, dot)}-${hash}${name.slice(dot)}`;
}

function emit(dir, name, bytes) {
  mkdirSync(join(dist, dir), { recursive: true });
  const file = fingerprinted(bytes, name);
  writeFileSync(join(dist, dir, file), bytes);
  return file;
}

const bundle = emit(
  "docs/assets",
  "swagger-ui-bundle.js",
  readFileSync(join(swagger, "swagger-ui-bundle.js")),
);
const css = emit("docs/assets", "swagger-ui.css", readFileSync(join(swagger, "swagger-ui.css")));
const start = emit("docs/assets", "start.js", readFileSync(join(web, "site/docs-start.js")));
const docsCss = emit("docs/assets", "docs.css", readFileSync(join(web, "site/docs.css")));
writeFileSync(
  join(dist, "docs/index.html"),
  readFileSync(join(web, "site/docs.html"), "utf8")
    .replace("{{bundle}}", `assets/${bundle}`)
    .replace("{{css}}", `assets/${css}`)
    .replace("{{docsCss}}", `assets/${docsCss}`)
    .replace("{{start}}", `assets/${start}`),
);

const siteCss = emit("site/assets", "site.css", readFileSync(join(web, "site/site.css")));
writeFileSync(
  join(dist, "index.html"),
  readFileSync(join(web, "site/index.html"), "utf8").replace("{{css}}", `/site/assets/${siteCss}`),
);
copyFileSync(join(web, "site/favicon.svg"), join(dist, "favicon.svg"));
