#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=8
// The `intersebd` command. From the npm package it runs the built JavaScript (dist/); in the repository, where the
// TypeScript sources sit beside it, it runs them with Node's type stripping (Node >= 22.18 strips types by default;
// 22.13+ with the flag), so development needs no build.
// The young generation is capped at 2 × 8 MB: Node's default on a large machine lets a busy proxy, whose objects
// almost all die young, grow 50 MB more resident memory for about 2% less garbage collection time. Two malloc
// arenas instead of glibc's eight per core: about 10 MB less under load, for no measurable CPU.
import fs from "node:fs";
import module from "node:module";

const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 13)) {
  process.stderr.write(`intersebd needs Node.js >= 22.13 (this is ${process.versions.node}).\n`);
  process.exit(1);
}
// Node's compile cache keeps the stripped and compiled modules on disk (keyed by their content), so later starts
// neither load the type stripper nor compile again: about 30 MB less memory for the whole life of the server,
// and a faster start. NODE_DISABLE_COMPILE_CACHE=1 turns it off.
module.enableCompileCache?.();
// The npm package has no src/ (and Node refuses to strip types under node_modules): sources only in a checkout.
const source = new URL("../src/cli/main.ts", import.meta.url);
const inCheckout = fs.existsSync(source) && !source.pathname.includes("/node_modules/");
// In a checkout the server imports the workspace SDK (`intersebd/chat`) as TypeScript sources, which the
// `intersebd-source` export condition selects. npm scripts set it (.npmrc); this covers a plain `node bin/...`.
if (inCheckout && typeof module.registerHooks === "function") {
  module.registerHooks({
    resolve: (specifier, context, nextResolve) =>
      nextResolve(
        specifier,
        context.conditions.includes("intersebd-source")
          ? context
          : { ...context, conditions: [...context.conditions, "intersebd-source"] },
      ),
  });
}
await import(inCheckout ? source.href : new URL("../dist/cli/main.js", import.meta.url).href);
