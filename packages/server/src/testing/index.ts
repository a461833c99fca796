/**
 * Test and demo support: the server harness, and the fake upstream (which lives in fake-upstream/, shipped with
 * the CLI). Neither the server nor the CLI imports this folder: tests, benchmarks and examples do.
 */
export {
  type FakeUpstream,
  judgeVerdict,
  PROVIDER_STREAMS_DIR,
  RECORDED_STREAMS_DIR,
  RESPONSES_STREAMS_DIR,
  startFakeUpstream,
} from "../fake-upstream/index.ts";
export * from "./calls.ts";
export * from "./evals.ts";
export * from "./harness.ts";
export * from "./live.ts";
export * from "./ports.ts";
export * from "./proxy.ts";
export * from "./store.ts";
export * from "./upstream-suite.ts";
