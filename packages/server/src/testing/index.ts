/** Test and demo support: the fake upstream and the server harness. Not loaded by the server itself. */
export {
  type FakeUpstream,
  judgeVerdict,
  PROVIDER_STREAMS_DIR,
  RECORDED_STREAMS_DIR,
  startFakeUpstream,
} from "./fake-upstream.ts";
export * from "./harness.ts";
