// `npm run size`: the core's size as a page downloads it (dist/yavio-widget.js, minified, and
// gzipped at level 9). Exits 1 over the 6 KB gzipped budget.
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const BUDGET_GZIPPED = 6_144;
const file = "dist/yavio-widget.js";
const minified = readFileSync(file);
const gzipped = gzipSync(minified, { level: 9 }).length;
console.log(
  `${file}: ${minified.length} bytes minified, ${gzipped} bytes gzipped (budget ${BUDGET_GZIPPED})`,
);
if (gzipped > BUDGET_GZIPPED) process.exit(1);
