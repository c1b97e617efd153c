// `npm run build`: minified ESM bundles and .d.ts types in dist/.
//   dist/index.js, dist/react.js (+ a shared chunk)  the package's two entries
//   dist/yavio-widget.js                              the core in one self-contained file, for
//                                                     <script type="module"> on a plain page
//   dist/types/                                       declarations from tsc
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { build } from "esbuild";

const common = { bundle: true, format: "esm", minify: true, target: "es2022", logLevel: "warning" };

rmSync("dist", { recursive: true, force: true });
await build({
  ...common,
  entryPoints: ["src/index.ts", "src/react.ts"],
  outdir: "dist",
  splitting: true,
  chunkNames: "chunks/[name]-[hash]",
  external: ["react"],
});
await build({ ...common, entryPoints: ["src/index.ts"], outfile: "dist/yavio-widget.js" });
execFileSync(process.execPath, ["node_modules/typescript/bin/tsc", "--emitDeclarationOnly", "-p", "."], {
  stdio: "inherit",
});
