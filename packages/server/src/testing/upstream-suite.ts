/**
 * The setup of the suites that run calls through a server's proxy to the fake upstream (evaluations,
 * conversation evaluations): one fake upstream and one server whose default upstream it is, per `describe`.
 */
import { after, before } from "node:test";
import { type FakeUpstream, startFakeUpstream } from "../fake-upstream/index.ts";
import { type Dialect, postgresAvailable, startTestServer, type TestServer } from "./harness.ts";

export interface UpstreamSuite {
  /** For the suite's tests' options: why they do not run (PostgreSQL unreachable), or false. */
  readonly skip: string | false;
  /** The server; set before the suite's tests (and its own `before` hooks, registered later) run. */
  readonly s: TestServer;
  /** Its default upstream. */
  readonly fake: FakeUpstream;
}

/**
 * Starts the fake upstream and a server on a fresh store before the calling `describe`'s tests, stops both after.
 * A suite seeds its data in its own `before`, which runs after this one's.
 * @example
 * const suite = await fakeUpstreamSuite(dialect, { inProcess: true });
 * it("...", { skip: suite.skip }, async () => { await suite.s.api("/api/evals", { body }); });
 */
export async function fakeUpstreamSuite(
  dialect: Dialect,
  opts: { env?: Record<string, string>; inProcess?: boolean } = {},
): Promise<UpstreamSuite> {
  const skip =
    dialect === "postgres" && !(await postgresAvailable())
      ? "PostgreSQL unreachable (see the message above): this test did NOT run on postgres"
      : false;
  let s: TestServer | undefined;
  let fake: FakeUpstream | undefined;
  before(async () => {
    if (skip) return;
    fake = await startFakeUpstream();
    s = await startTestServer(dialect, { upstream: fake.url, env: opts.env, inProcess: opts.inProcess });
  });
  after(async () => {
    await s?.stop();
    await fake?.close();
  });
  const started = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`${what} is not started: read it in a test or a before hook`);
    return v;
  };
  return {
    skip,
    get s() {
      return started(s, "the server");
    },
    get fake() {
      return started(fake, "the fake upstream");
    },
  };
}
