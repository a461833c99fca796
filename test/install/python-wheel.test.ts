/**
 * The Python package as a user installs it: `pip wheel ./packages/python` builds the wheel and
 * `pip install ./packages/python` installs from the folder, both leaving the repository as they found it; in a
 * fresh venv outside the repository the wheel's `intersebd` links and annotates a call on a running server, and
 * the API gives the annotation back, resolved to the call. The other Pythons from 3.9 to 3.13 found here (on the
 * PATH or installed by pyenv) install the wheel and import it.
 * Skips, loudly, without python3 (3.9+) or when pip cannot get the build backend (flit_core) from an index.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import {
  eventually,
  type FakeUpstream,
  startFakeUpstream,
  startTestServer,
  type TestServer,
} from "../../packages/server/src/testing/index.ts";
import { announceSkip, describeRun, ROOT, registryUnreachable, run, userEnv } from "./support.ts";

// biome-ignore lint/suspicious/noExplicitAny: API bodies are read loosely in assertions
type Body = Record<string, any>;

const PYTHON = process.env.PYTHON ?? "python3";
const PACKAGE = path.join(ROOT, "packages", "python");
const MINUTE = 60_000;

/** "3.11", or undefined when `python` does not run. */
function pythonVersion(python: string): string | undefined {
  const r = spawnSync(python, ["-c", "import sys; print('%d.%d' % sys.version_info[:2])"], {
    encoding: "utf8",
    timeout: 10_000,
  });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function atLeast39(version: string): boolean {
  const [major = 0, minor = 0] = version.split(".").map(Number);
  return major > 3 || (major === 3 && minor >= 9);
}

/**
 * Pythons 3.9 ... 3.13 other than `python3` (`main`): `python3.X` on the PATH, or a pyenv install of it.
 */
function otherPythons(main: string): Array<[number, string]> {
  const found: Array<[number, string]> = [];
  const pyenvVersions = path.join(process.env.PYENV_ROOT ?? path.join(os.homedir(), ".pyenv"), "versions");
  const installed = fs.existsSync(pyenvVersions) ? fs.readdirSync(pyenvVersions) : [];
  for (const minor of [9, 10, 11, 12, 13]) {
    if (main === `3.${minor}`) continue;
    const candidates = [
      `python3.${minor}`,
      ...installed
        .filter((v) => v.startsWith(`3.${minor}.`))
        .map((v) => path.join(pyenvVersions, v, "bin", `python3.${minor}`)),
    ];
    const python = candidates.find((p) => pythonVersion(p) === `3.${minor}`);
    if (python) found.push([minor, python]);
  }
  return found;
}

/** What the Python package's folder holds that git does not track (ignored files included). */
function untracked(): string {
  return spawnSync("git", ["status", "--porcelain", "--ignored", "--untracked-files=all", "--", "."], {
    cwd: PACKAGE,
    encoding: "utf8",
  }).stdout;
}

/** The user's service: links a call to a reply, annotates the reply, flushes, and says what it did. */
const SCRIPT = `
import json, sys
import intersebd
from intersebd import Intersebd

base, completion_id, tag = sys.argv[1:4]
errors = []
client = Intersebd(base_url=base, on_error=errors.append)
client.link(upstream_tag=completion_id, downstream_tag=tag + "-reply", metadata={"via": "wheel"})
client.annotate(annotation_key=tag + "-reply", numeric_reward=1, comment=tag, data={"python": sys.version})
flushed = client.flush(timeout=20)
print(json.dumps({"flushed": flushed, "stats": client.stats(), "errors": [str(e) for e in errors],
                  "file": intersebd.__file__, "version": intersebd.__version__}))
`;

const version = pythonVersion(PYTHON);
const missing = !version
  ? `${PYTHON} not found or does not run`
  : !atLeast39(version)
    ? `${PYTHON} is ${version}, the SDK needs 3.9+`
    : undefined;
if (missing) announceSkip("Python wheel test", `${missing}. Install python3 (3.9+) or set PYTHON.`);

describe("the Python package, built and installed in a fresh venv", {
  skip: missing,
  timeout: 4 * MINUTE,
}, () => {
  let tmp: string;
  let wheel = "";
  let skipReason: string | undefined;
  let before_: string;

  before(async () => {
    tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-wheel-")));
    before_ = untracked();
    const wheels = path.join(tmp, "wheels");
    // --retries 1: an index that cannot be reached fails fast instead of backing off for a minute.
    const r = await run(
      PYTHON,
      ["-m", "pip", "wheel", "--no-deps", "--retries", "1", PACKAGE, "-w", wheels],
      {
        cwd: tmp,
        env: userEnv(),
        timeoutMs: 3 * MINUTE,
      },
    );
    if (r.code !== 0 && registryUnreachable(r.stdout + r.stderr)) {
      skipReason = `pip could not get the build backend (flit_core): ${r.stderr.trim().split("\n").slice(-2).join(" | ")}`;
      announceSkip("Python wheel test", skipReason);
      return;
    }
    assert.equal(r.code, 0, describeRun("pip wheel ./packages/python", r));
    const built = fs.readdirSync(wheels).filter((f) => f.endsWith(".whl"));
    assert.equal(built.length, 1, `one wheel: ${built.join(", ")}`);
    wheel = path.join(wheels, built[0] ?? "");
  });

  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("the wheel holds the package and nothing else, and building it leaves the tree as it was", async (t) => {
    if (skipReason) return t.skip(skipReason);
    const listing = spawnSync(
      PYTHON,
      ["-c", "import sys, zipfile; print('\\n'.join(zipfile.ZipFile(sys.argv[1]).namelist()))", wheel],
      { encoding: "utf8" },
    ).stdout;
    const names = listing.split("\n").filter(Boolean);
    assert.ok(names.includes("intersebd/__init__.py"), listing);
    assert.ok(names.includes("intersebd/py.typed"), listing);
    for (const name of names)
      assert.match(
        name,
        /^intersebd\/[^/]+$|^intersebd-[\d.]+\.dist-info\//,
        `${name} does not belong in the wheel`,
      );
    assert.equal(untracked(), before_, "pip wheel left files in packages/python");
  });

  it("links and annotates a call on a running server from a venv; the API resolves the annotation to the call", async (t) => {
    if (skipReason) return t.skip(skipReason);
    const venv = path.join(tmp, "venv");
    const mk = await run(PYTHON, ["-m", "venv", venv], { cwd: tmp, env: userEnv(), timeoutMs: MINUTE });
    assert.equal(mk.code, 0, describeRun("python -m venv", mk));
    const py = path.join(venv, "bin", "python");
    // Installed from the folder, as the README says, then from the wheel: neither may write into the tree.
    const fromFolder = await run(py, ["-m", "pip", "install", "--retries", "1", PACKAGE], {
      cwd: tmp,
      env: userEnv(),
      timeoutMs: 3 * MINUTE,
    });
    assert.equal(fromFolder.code, 0, describeRun("pip install ./packages/python", fromFolder));
    assert.equal(untracked(), before_, "pip install ./packages/python left files in packages/python");
    const fromWheel = await run(
      py,
      ["-m", "pip", "install", "--no-index", "--no-deps", "--force-reinstall", wheel],
      { cwd: tmp, env: userEnv(), timeoutMs: MINUTE },
    );
    assert.equal(fromWheel.code, 0, describeRun("pip install <wheel>", fromWheel));

    const fake: FakeUpstream = await startFakeUpstream({ keepRequests: false });
    let server: TestServer | undefined;
    try {
      server = await startTestServer("sqlite", { upstream: fake.url });
      const res = await fetch(`${server.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: "Bearer sk-wheel" },
        body: JSON.stringify({
          model: "gpt-4o-mini",
          messages: [{ role: "user", content: "A title, please" }],
        }),
      });
      assert.equal(res.status, 200);
      const completionId = ((await res.json()) as Body).id as string;
      const tag = `wheel-${Date.now()}`;
      const script = path.join(tmp, "service.py");
      fs.writeFileSync(script, SCRIPT);
      const r = await run(py, [script, server.url, completionId, tag], {
        cwd: tmp,
        env: userEnv(),
        timeoutMs: MINUTE,
      });
      assert.equal(r.code, 0, describeRun("service.py", r));
      const out = JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "{}") as Body;
      assert.equal(out.flushed, true, r.stdout);
      assert.deepEqual(out.errors, []);
      assert.equal(out.stats.failed, 0, r.stdout);
      assert.ok(String(out.file).startsWith(venv), `imported from the venv, not the repository: ${out.file}`);

      const call = await eventually(
        async () => {
          const detail = await server?.api<Body>(`/api/calls/${encodeURIComponent(completionId)}`);
          return detail?.status === 200 && detail.body.annotations?.length ? detail.body : undefined;
        },
        10_000,
        `the annotation of ${completionId}`,
      );
      const annotation = call.annotations.find((a: Body) => a.comment === tag);
      assert.ok(annotation, JSON.stringify(call.annotations));
      assert.equal(annotation.numericReward, 1);
      assert.equal(annotation.annotationKey, `${tag}-reply`);
    } finally {
      await server?.stop();
      await fake.close();
    }
  });

  it("installs and imports on the other Pythons here (3.9 to 3.13)", async (t) => {
    if (skipReason) return t.skip(skipReason);
    const tried: string[] = [];
    for (const [minor, python] of otherPythons(version ?? "")) {
      // A bare venv, filled by python3's own pip (--python): no ensurepip, a few seconds less for each.
      const venv = path.join(tmp, `venv-3.${minor}`);
      const mk = await run(python, ["-m", "venv", "--without-pip", venv], {
        cwd: tmp,
        env: userEnv(),
        timeoutMs: MINUTE,
      });
      assert.equal(mk.code, 0, describeRun(`${python} -m venv`, mk));
      const py = path.join(venv, "bin", "python");
      const install = await run(
        PYTHON,
        ["-m", "pip", "--python", py, "install", "--no-index", "--no-deps", wheel],
        { cwd: tmp, env: userEnv(), timeoutMs: MINUTE },
      );
      assert.equal(install.code, 0, describeRun(`pip install <wheel> (${python})`, install));
      const imp = await run(py, ["-c", "import intersebd; intersebd.Intersebd(enabled=False); print('ok')"], {
        cwd: tmp,
        env: userEnv(),
        timeoutMs: MINUTE,
      });
      assert.equal(imp.stdout.trim(), "ok", describeRun(`import intersebd (${python})`, imp));
      tried.push(`3.${minor}`);
    }
    if (tried.length === 0) t.skip("no Python 3.9 ... 3.13 here besides python3");
    else t.diagnostic(`installed and imported on Python ${tried.join(", ")}`);
  });
});
