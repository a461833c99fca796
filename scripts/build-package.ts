/**
 * Builds a published package into its `dist/`: `npm run build` in packages/sdk or packages/server runs it, and so
 * does `npm pack` (through `prepack`). `clean` removes what a build wrote (`postpack` runs it).
 *
 *   node scripts/build-package.ts sdk      dist/esm (import) and dist/cjs (require), each with its .d.ts
 *   node scripts/build-package.ts server   dist/ (JavaScript, .d.ts, the fake upstream's recorded streams) and
 *                                          webapp/ (the web app, built by Vite)
 *   node scripts/build-package.ts clean sdk|server
 *
 * Inside the repository nothing runs from dist/: every package export puts the `intersebd-source` condition
 * (the TypeScript sources) first, and the repository's scripts run Node with that condition. dist/ is removed
 * after packing so that a run without the condition fails loudly instead of running a stale build.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "..");
const BIN = path.join(ROOT, "node_modules", ".bin");

type PackageName = "sdk" | "server";

function packageDir(name: string | undefined): { name: PackageName; dir: string } {
  if (name !== "sdk" && name !== "server") {
    process.stderr.write("usage: node scripts/build-package.ts [clean] sdk|server\n");
    process.exit(2);
  }
  return { name, dir: path.join(ROOT, "packages", name) };
}

function run(command: string, args: string[], cwd: string): void {
  execFileSync(path.join(BIN, command), args, { cwd, stdio: "inherit" });
}

/** Every file under `dir` whose name ends with `suffix`. */
function filesUnder(dir: string, suffix: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(suffix))
    .map((e) => path.join(e.parentPath, e.name));
}

/**
 * The sources import each other as `./x.ts`. tsc rewrites those paths to `./x.js` in the JavaScript it emits
 * (rewriteRelativeImportExtensions) but keeps `.ts` in the declarations, which TypeScript 5.x refuses in a
 * project without allowImportingTsExtensions (TS5097). Declarations import what the JavaScript imports.
 */
function rewriteDeclarationImports(dist: string): void {
  const relativeTs = /((?:from|import)\s*\(?\s*["'])(\.\.?\/[^"']*?)\.ts(["'])/g;
  for (const file of filesUnder(dist, ".d.ts")) {
    const text = fs.readFileSync(file, "utf8");
    const rewritten = text.replace(relativeTs, "$1$2.js$3");
    if (rewritten !== text) fs.writeFileSync(file, rewritten);
  }
}

/** Removes dist/. The server's webapp/ stays: the server in the repository serves it (npm install builds it). */
function clean(dir: string): void {
  fs.rmSync(path.join(dir, "dist"), { recursive: true, force: true });
}

function buildSdk(dir: string): void {
  const dist = path.join(dir, "dist");
  run("tsc", ["-p", "tsconfig.build.json"], dir);
  run("tsc", ["-p", "tsconfig.build.cjs.json"], dir);
  // The package is "type": "module"; this marks the .js files of dist/cjs (and their .d.ts) as CommonJS.
  fs.writeFileSync(path.join(dist, "cjs", "package.json"), `${JSON.stringify({ type: "commonjs" })}\n`);
  rewriteDeclarationImports(dist);
}

function buildServer(dir: string): void {
  const dist = path.join(dir, "dist");
  // A server that imports the SDK (`intersebd`, a workspace dependency) compiles against the SDK's published
  // declarations, as it will run against its published JavaScript: the SDK is built first, and its dist/ removed
  // again afterwards unless it was there before (a stale SDK build must not linger in the checkout).
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as {
    dependencies?: Record<string, string>;
  };
  const sdk = path.join(ROOT, "packages", "sdk");
  const sdkBuiltHere =
    manifest.dependencies?.intersebd !== undefined && !fs.existsSync(path.join(sdk, "dist"));
  if (manifest.dependencies?.intersebd !== undefined) {
    clean(sdk);
    buildSdk(sdk);
  }
  try {
    run("tsc", ["-p", "tsconfig.build.json"], dir);
  } finally {
    if (sdkBuiltHere) clean(sdk);
  }
  // `intersebd fake-upstream` replays these (fake-upstream/server.ts reads them next to itself).
  fs.cpSync(
    path.join(dir, "src", "fake-upstream", "fixtures"),
    path.join(dist, "fake-upstream", "fixtures"),
    {
      recursive: true,
    },
  );
  rewriteDeclarationImports(dist);
  // The web app: packages/web's Vite build, into packages/server/webapp, which the server serves. Built beside it
  // and then swapped in, so that a server or test running from this checkout never finds the folder half written.
  const webapp = path.join(dir, "webapp");
  const next = path.join(dir, "webapp.next");
  fs.rmSync(next, { recursive: true, force: true });
  run(
    "vite",
    ["build", "--logLevel", "warn", "--outDir", next, "--emptyOutDir"],
    path.join(ROOT, "packages", "web"),
  );
  if (!fs.existsSync(path.join(next, "index.html")))
    throw new Error(`the web app build wrote no ${next}/index.html`);
  // Vite's build is deterministic: an unchanged web app leaves webapp/ untouched, so the tests running beside
  // `npm pack` (the suite runs files in parallel) never see it missing. A changed one replaces it by two renames,
  // missing for microseconds instead of for the time it takes to delete a tree.
  if (sameTree(next, webapp)) {
    fs.rmSync(next, { recursive: true, force: true });
    return;
  }
  const old = path.join(dir, "webapp.old");
  fs.rmSync(old, { recursive: true, force: true });
  if (fs.existsSync(webapp)) fs.renameSync(webapp, old);
  fs.renameSync(next, webapp);
  fs.rmSync(old, { recursive: true, force: true });
}

/** Whether two folders hold the same files with the same bytes. */
function sameTree(a: string, b: string): boolean {
  if (!fs.existsSync(b)) return false;
  const list = (d: string) => (fs.readdirSync(d, { recursive: true, encoding: "utf8" }) as string[]).sort();
  const files = list(a);
  const other = list(b);
  if (files.length !== other.length || files.some((f, i) => f !== other[i])) return false;
  return files.every((f) => {
    const pa = path.join(a, f);
    const pb = path.join(b, f);
    if (fs.statSync(pa).isDirectory()) return fs.statSync(pb).isDirectory();
    return fs.statSync(pb).isFile() && fs.readFileSync(pa).equals(fs.readFileSync(pb));
  });
}

const [first, second] = process.argv.slice(2);
if (first === "clean") {
  clean(packageDir(second).dir);
} else {
  const { name, dir } = packageDir(first);
  clean(dir);
  if (name === "sdk") buildSdk(dir);
  else buildServer(dir);
}
