/**
 * The server's layering, checked on every `npm test` (`npm run deps`) instead of hoped for (issue 15).
 *
 *   composition   cli/, api/, server.ts, mounts.ts, compose.ts, index.ts (the package's door), api-types.ts
 *        |
 *        v
 *   domains       every other folder of packages/server/src: proxy, calls, graph, notifications, exports, evals,
 *        |        metrics, web, and whatever new one appears (sessions, review, settings, fake-upstream...)
 *        v
 *   kits          store/, util/, http/, config/, chat/ (pure functions over chat bodies: previews)
 *
 * An import goes down (or sideways between domains), never up. `testing/` is the tests' own kit: only tests
 * import it. Type-only imports count too: a domain that names the HTTP layer's types depends on it all the same.
 * The layer rules bind the code that ships; a test beside a module may compose what it needs from any layer (a
 * store fault test drives the workers, an evals test runs the CLI), as the composition does.
 *
 * Parsing: TypeScript 7 has no JavaScript compiler API, which dependency-cruiser's own TypeScript parser needs, so
 * the sources are parsed with swc (@swc/core, a dev dependency), which reads `import type` as type-only.
 */
const SRC = "^packages/server/src/";
const COMPOSITION = `${SRC}(?:(?:cli|api)/|(?:server|mounts|compose|index|api-types)\\.ts$)`;
const KITS = `${SRC}(?:store|util|http|config|chat)/`;
const TESTING = `${SRC}testing/`;
/** A domain is any folder of src/ that is not composition, a kit or testing: new domains are covered unasked. */
const DOMAIN = `${SRC}(?!(?:cli|api|store|util|http|config|chat|testing)/)[^/]+/`;
/** Tests and their helpers: `*.test.ts`, `test/` folders, the testing kit itself, and `*-fixture.ts` beside a test. */
const TEST_CODE = "(?:\\.test\\.tsx?$|-fixture\\.ts$|(?:^|/)tests?/|^packages/server/src/testing/)";

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "domain-not-to-composition",
      comment:
        "A domain never imports the HTTP layer or the composition back (api/, cli/, server.ts, mounts.ts...): " +
        "what routes need (the route table type, validators, HttpError) lives in the kits below, http/ and util/.",
      severity: "error",
      from: { path: DOMAIN, pathNot: TEST_CODE },
      to: { path: COMPOSITION },
    },
    {
      name: "kit-not-up",
      comment:
        "The kits (store/, util/, http/, config/, chat/) sit below every domain: they import other kits and packages, " +
        "never a domain or the composition.",
      severity: "error",
      from: { path: KITS, pathNot: TEST_CODE },
      to: { path: SRC, pathNot: `(?:${KITS}|${TESTING})` },
    },
    {
      name: "calls-not-to-graph",
      comment:
        "calls/ records calls; graph resolution runs after an insert through a hook passed in at composition, " +
        "so calls/ does not import graph/.",
      severity: "error",
      from: { path: `${SRC}calls/`, pathNot: TEST_CODE },
      to: { path: `${SRC}graph/` },
    },
    {
      name: "testing-only-from-tests",
      comment:
        "testing/ (the harness, which imports node:test, and private clusters) is for tests only: shipped code " +
        "that imports it would pull test machinery into a running server.",
      severity: "error",
      from: { path: "^packages/", pathNot: TEST_CODE },
      to: { path: TESTING },
    },
    {
      name: "web-imports-only-types-from-server",
      comment:
        "The web app reaches the server through HTTP; from the server package it takes types (erased by every " +
        "build), and the drop reasons, a table of constants the package exports for it (@intersebd/server/drop-reasons).",
      severity: "error",
      from: { path: "^packages/web/" },
      to: {
        path: "^packages/server/",
        pathNot: "^packages/server/src/exports/reasons\\.ts$",
        dependencyTypesNot: ["type-only"],
      },
    },
    {
      name: "sdk-not-to-server",
      comment:
        "The SDK ships alone (the server depends on it, not the other way round); its tests may use the server.",
      severity: "error",
      from: { path: "^packages/sdk/", pathNot: TEST_CODE },
      to: { path: "^packages/server/" },
    },
    {
      name: "no-circular",
      comment: "No module reaches itself through its imports (type-only imports included).",
      severity: "error",
      from: { path: "^packages/" },
      to: { circular: true },
    },
    {
      name: "not-to-unresolvable",
      comment: "An import that resolves to nothing is a typo or a missing dependency.",
      severity: "error",
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    parser: "swc",
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(?:^|/)(?:node_modules|dist|webapp|webapp\\.next)/" },
    // Package exports resolve to the TypeScript sources under the repository's condition, as in tsconfig.json.
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["intersebd-source", "import", "require", "node", "default"],
      extensions: [".ts", ".tsx", ".js", ".mjs", ".cjs", ".json"],
      mainFields: ["module", "main", "types"],
    },
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
