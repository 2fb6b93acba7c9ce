// The first load of /admin/ must stay within 200 KB of compressed
// JavaScript: every script index.html loads, and what those import eagerly.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";

const BUDGET = 200 * 1024;
const admin = join(dirname(new URL(import.meta.url).pathname), "..", "dist", "admin");
const html = readFileSync(join(admin, "index.html"), "utf8");
const seen = new Set();
const queue = [...html.matchAll(/(?:src|href)="\/admin\/(assets\/[^"]+\.js)"/g)].map((m) => m[1]);
while (queue.length > 0) {
  const file = queue.pop();
  if (seen.has(file)) continue;
  seen.add(file);
  const code = readFileSync(join(admin, file), "utf8");
  // Static imports only: a dynamic import( ) loads later, when a screen asks.
  for (const m of code.matchAll(/import\s*(?:[^"'();]*?from\s*)?["']\.\/([^"']+\.js)["']/g)) {
    queue.push(`assets/${m[1]}`);
  }
}
let total = 0;
for (const file of seen) {
  const path = join(admin, file);
  total += (existsSync(`${path}.br`) ? readFileSync(`${path}.br`) : readFileSync(path)).length;
}
const line = `first load: ${seen.size} scripts, ${(total / 1024).toFixed(1)} KB of JavaScript (brotli), budget ${BUDGET / 1024} KB`;
console.log(line);
if (total > BUDGET) {
  console.error("over budget");
  process.exit(1);
}
