/**
 * `npm install` on a fresh clone leaves `git status` clean: package-lock.json already says what npm would write.
 * It went out of step twice: a lock written without the optional platform packages of a dependency (Biome's for
 * other systems, which npm adds back on every install), and a workspace's package.json changed (its engines, bin or
 * dependencies are copied into the lock) without the lock. Here npm resolves the repository's manifests from
 * scratch (`--package-lock-only`: no node_modules, no scripts) in a copy outside the repository, and the lock it
 * writes must be byte for byte the committed one. Workspace packages resolve to their folders, never to the
 * registry. Skips, loudly, when the npm registry cannot be reached.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { it } from "node:test";
import { announceSkip, describeRun, ROOT, registryUnreachable, run, userEnv } from "./support.ts";

const MANIFESTS = [
  "package.json",
  "package-lock.json",
  ".npmrc",
  "packages/sdk/package.json",
  "packages/server/package.json",
  "packages/web/package.json",
];

it("package-lock.json is what npm install writes for the manifests, with workspaces linked", async (t) => {
  const root = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
    workspaces: string[];
  };
  assert.deepEqual(
    root.workspaces.map((w) => `${w}/package.json`),
    MANIFESTS.filter((m) => m.startsWith("packages/")),
    "every workspace's manifest is copied",
  );
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-lock-"));
  try {
    for (const file of MANIFESTS) {
      fs.mkdirSync(path.dirname(path.join(tmp, file)), { recursive: true });
      fs.copyFileSync(path.join(ROOT, file), path.join(tmp, file));
    }
    const r = await run(
      "npm",
      ["install", "--package-lock-only", "--ignore-scripts", "--prefer-offline", "--no-audit", "--no-fund"],
      { cwd: tmp, env: userEnv(), timeoutMs: 120_000 },
    );
    if (r.code !== 0 && registryUnreachable(r.stdout + r.stderr)) {
      const reason = r.stderr.trim().split("\n").slice(-3).join(" | ");
      announceSkip("Lockfile test", `npm registry unreachable: ${reason}`);
      t.skip(`npm registry unreachable: ${reason}`);
      return;
    }
    assert.equal(r.code, 0, describeRun("npm install --package-lock-only", r));
    const committed = fs.readFileSync(path.join(ROOT, "package-lock.json"), "utf8");
    const written = fs.readFileSync(path.join(tmp, "package-lock.json"), "utf8");
    assert.ok(
      written === committed,
      "npm install rewrites package-lock.json: run `npm install` and commit the lock with the package.json change",
    );

    const lock = JSON.parse(committed) as { packages: Record<string, { resolved?: string; link?: boolean }> };
    for (const [name, folder] of [
      ["intersebd", "packages/sdk"],
      ["@intersebd/server", "packages/server"],
      ["@intersebd/web", "packages/web"],
    ]) {
      assert.deepEqual(
        lock.packages[`node_modules/${name}`],
        { resolved: folder, link: true },
        `${name} resolves to ${folder}`,
      );
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
