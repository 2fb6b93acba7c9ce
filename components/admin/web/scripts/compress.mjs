// Next to every compressible file in dist/, its .gz and .br at the highest
// levels: compressed once at build time, served as the client accepts.
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const dist = join(dirname(new URL(import.meta.url).pathname), "..", "dist");
const compressible = /\.(html|js|mjs|css|json|svg|txt|map)$/;

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else yield path;
  }
}

let identity = 0;
let brotli = 0;
for (const path of [...files(dist)]) {
  if (!compressible.test(path)) continue;
  const bytes = readFileSync(path);
  if (bytes.length < 512) continue;
  const br = brotliCompressSync(bytes, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
    },
  });
  writeFileSync(`${path}.gz`, gzipSync(bytes, { level: 9 }));
  writeFileSync(`${path}.br`, br);
  identity += bytes.length;
  brotli += br.length;
}
console.log(`compressed ${identity} bytes to ${brotli} (brotli)`);
