/**
 * The setup of the suites that run calls through a server's proxy to the fake upstream (evaluations, live
 * evaluators, keys, rate limits...): one fake upstream and one server whose default upstream it is, per `describe`.
 */
import { after, before, type TestContext } from "node:test";
import { type FakeUpstream, startFakeUpstream } from "../fake-upstream/index.ts";
import { type Dialect, postgresAvailable, startTestServer, type TestServer } from "./harness.ts";

export interface UpstreamSuite {
  /** For the suite's tests' options: why they do not run (PostgreSQL unreachable), or false. */
  readonly skip: string | false;
  /** The server; set before the suite's tests (and its own `before` hooks, registered later) run. */
  readonly s: TestServer;
  /** Its default upstream. */
  readonly fake: FakeUpstream;
  /**
   * For a test that takes its context: the server, or undefined with the test marked skipped (PostgreSQL
   * unreachable), as `serverForSuite`'s function answers.
   */
  server(t: TestContext): TestServer | undefined;
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
  opts: {
    /** The server's variables; a function gets the fake upstream's URL (for `INTERSEBD_UPSTREAMS`). */
    env?: Record<string, string> | ((fakeUrl: string) => Record<string, string>);
    inProcess?: boolean;
    /** The fake upstream's options (`keepRequests: false` for suites that send many calls). */
    fake?: { keepRequests?: boolean; delayMs?: number };
  } = {},
): Promise<UpstreamSuite> {
  const skip =
    dialect === "postgres" && !(await postgresAvailable())
      ? "PostgreSQL unreachable (see the message above): this test did NOT run on postgres"
      : false;
  let s: TestServer | undefined;
  let fake: FakeUpstream | undefined;
  before(async () => {
    if (skip) return;
    fake = await startFakeUpstream(opts.fake);
    const env = typeof opts.env === "function" ? opts.env(fake.url) : opts.env;
    s = await startTestServer(dialect, { upstream: fake.url, env, inProcess: opts.inProcess });
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
    server: (t) => {
      if (skip) {
        t.skip(skip);
        return undefined;
      }
      return started(s, "the server");
    },
  };
}
