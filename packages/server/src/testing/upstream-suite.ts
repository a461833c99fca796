/**
 * The setup of a `describe` whose tests share one server on a fresh store (`storeSuite`), seeded or not, and of
 * the suites that run calls through a server's proxy to the fake upstream (`fakeUpstreamSuite`: evaluations,
 * live evaluators, keys, rate limits...), one fake upstream and one server whose default upstream it is.
 */
import { after, before, type TestContext } from "node:test";
import { type FakeUpstream, startFakeUpstream } from "../fake-upstream/index.ts";
import { type Dialect, postgresAvailable, startTestServer, type TestServer } from "./harness.ts";

export interface StoreSuite {
  /** For the suite's tests' options: why they do not run (PostgreSQL unreachable), or false. */
  readonly skip: string | false;
  /** The server; set before the suite's tests (and its own `before` hooks, registered later) run. */
  readonly s: TestServer;
  /**
   * For a test that takes its context: the server, or undefined with the test marked skipped (PostgreSQL
   * unreachable), as `serverForSuite`'s function answers.
   */
  server(t: TestContext): TestServer | undefined;
}

export interface UpstreamSuite extends StoreSuite {
  /** Its default upstream. */
  readonly fake: FakeUpstream;
}

function started<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`${what} is not started: read it in a test or a before hook`);
  return v;
}

/** The suite over a `before` that starts its server (`start`) and an `after` that stops it, then `stop`s. */
async function suiteOf(
  dialect: Dialect,
  start: () => Promise<TestServer>,
  stop: () => Promise<void>,
): Promise<StoreSuite> {
  const skip =
    dialect === "postgres" && !(await postgresAvailable())
      ? "PostgreSQL unreachable (see the message above): this test did NOT run on postgres"
      : false;
  let s: TestServer | undefined;
  before(async () => {
    if (skip) return;
    s = await start();
  });
  after(async () => {
    await s?.stop();
    await stop();
  });
  return {
    skip,
    get s() {
      return started(s, "the server");
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

/**
 * Starts a server on a fresh store before the calling `describe`'s tests, and `seed`s it (the golden fixture,
 * say); stops it after.
 * @example
 * const suite = await storeSuite(dialect, { seed: loadFixture });
 * it("...", { skip: suite.skip }, async () => { await suite.s.api("/api/datasets"); });
 */
export function storeSuite(
  dialect: Dialect,
  opts: { env?: Record<string, string>; inProcess?: boolean; seed?: (s: TestServer) => Promise<void> } = {},
): Promise<StoreSuite> {
  return suiteOf(
    dialect,
    async () => {
      const s = await startTestServer(dialect, { env: opts.env, inProcess: opts.inProcess });
      try {
        await opts.seed?.(s);
      } catch (err) {
        await s.stop();
        throw err;
      }
      return s;
    },
    async () => {},
  );
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
  let fake: FakeUpstream | undefined;
  const suite = await suiteOf(
    dialect,
    async () => {
      const f = await startFakeUpstream(opts.fake);
      fake = f;
      const env = typeof opts.env === "function" ? opts.env(f.url) : opts.env;
      return startTestServer(dialect, { upstream: f.url, env, inProcess: opts.inProcess });
    },
    async () => {
      await fake?.close();
    },
  );
  return {
    skip: suite.skip,
    get s() {
      return suite.s;
    },
    server: suite.server,
    get fake() {
      return started(fake, "the fake upstream");
    },
  };
}
