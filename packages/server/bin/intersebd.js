#!/usr/bin/env node
// Runs the TypeScript CLI with Node's type stripping (Node >= 22.18 strips types by default; 22.13+ with the flag).
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 13)) {
  process.stderr.write(`intersebd needs Node.js >= 22.13 (this is ${process.versions.node}).\n`);
  process.exit(1);
}
await import("../src/cli/main.ts");
