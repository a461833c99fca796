/**
 * The Python SDK against a real server: starts one with the harness (SQLite, API key required), then runs the
 * Python unittest suite in packages/python/tests with INTERSEBD_URL pointing at it. Skips, loudly, when there is
 * no python3 (or it is older than 3.9).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { startTestServer, type TestServer } from "@intersebd/server/testing";
import { describeRun, ROOT, run } from "../install/support.ts";

const PACKAGE_DIR = path.resolve(import.meta.dirname, "../../packages/python");
const PYTHON = process.env.PYTHON ?? "python3";
const API_KEY = "python-sdk-test-key";

/** Why the suite cannot run here, or undefined when a usable python3 is on the PATH. */
function pythonMissing(): string | undefined {
  const r = spawnSync(PYTHON, ["-c", "import sys; print('%d.%d' % sys.version_info[:2])"], {
    encoding: "utf8",
    timeout: 10_000,
  });
  if (r.error) return `${PYTHON} not found (${r.error.message})`;
  if (r.status !== 0) return `${PYTHON} does not run: ${r.stderr.trim()}`;
  const [major = 0, minor = 0] = r.stdout.trim().split(".").map(Number);
  if (major < 3 || (major === 3 && minor < 9)) return `${PYTHON} is ${r.stdout.trim()}, the SDK needs 3.9+`;
  return undefined;
}

const missing = pythonMissing();
if (missing) {
  process.stderr.write(
    `\n!!! Python SDK tests SKIPPED: ${missing}. Install python3 (3.9+) or set PYTHON.\n\n`,
  );
}

describe("Python SDK (packages/python)", { skip: missing ? `no python: ${missing}` : false }, () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer("sqlite", { env: { INTERSEBD_API_KEY: API_KEY } });
  });
  after(async () => server?.stop());

  it("passes its unittest suite against a real server", async (t) => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      INTERSEBD_URL: server.url,
      INTERSEBD_API_KEY: API_KEY,
      PYTHONPATH: PACKAGE_DIR,
      PYTHONDONTWRITEBYTECODE: "1",
      PYTHONUNBUFFERED: "1",
    };
    delete env.INTERSEBD_ENABLED;
    const r = await run(PYTHON, ["-m", "unittest", "discover", "-s", "packages/python/tests", "-v"], {
      cwd: ROOT,
      env,
      timeoutMs: 240_000,
    });
    // unittest reports on stderr; print() in a test goes to stdout.
    const output = `${r.stderr}${r.stdout}`;
    assert.equal(r.code, 0, describeRun("python unittest", r));
    // A suite that skipped everything (no server seen) would also exit 0: make sure the server tests ran.
    assert.match(output, /^Ran \d+ tests/m, output);
    assert.doesNotMatch(output, /INTERSEBD_URL is not set/, output);
    const ran = Number(/^Ran (\d+) tests/m.exec(output)?.[1]);
    assert.ok(ran >= 30, `expected the whole suite, ran ${ran}:\n${output}`);
    t.diagnostic(`python: ran ${ran} tests`);
    for (const line of output.split("\n").filter((l) => / \.\.\. skipped /.test(l))) t.diagnostic(line);
  });
});
