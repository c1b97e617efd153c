// @vitest-environment node
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { describe, expect, it } from "vitest";
import { SDK_VERSION } from "../src/version";

const root = new URL("../", import.meta.url);
const packageJson = JSON.parse(readFileSync(new URL("package.json", root), "utf8"));

async function bundle(entry: string) {
  const result = await build({
    entryPoints: [new URL(entry, root).pathname],
    bundle: true,
    format: "esm",
    minify: true,
    target: "es2022",
    write: false,
    metafile: true,
    external: ["react"],
    logLevel: "silent",
  });
  return { code: result.outputFiles[0].contents, imports: Object.values(result.metafile.outputs)[0].imports };
}

describe("the published package", () => {
  it("sends the version it is published as", () => {
    expect(SDK_VERSION).toBe(packageJson.version);
  });

  it("keeps React out of the core: only the react entry imports it", async () => {
    const core = await bundle("src/index.ts");
    expect(core.imports.map((imported) => imported.path)).toEqual([]);
    const react = await bundle("src/react.ts");
    expect(react.imports.map((imported) => imported.path)).toEqual(["react"]);
  });

  it("keeps the core under 6 KB gzipped", async () => {
    const core = await bundle("src/index.ts");
    expect(gzipSync(core.code, { level: 9 }).length).toBeLessThan(6_144);
  });

  it("declares React an optional peer and has no runtime dependencies", () => {
    expect(packageJson.dependencies ?? {}).toEqual({});
    expect(packageJson.peerDependenciesMeta.react.optional).toBe(true);
    expect(packageJson.sideEffects).toBe(false);
  });
});
