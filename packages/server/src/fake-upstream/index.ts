/**
 * The fake OpenAI-compatible upstream: shipped (`intersebd fake-upstream`, for demos and the container test) and
 * used by tests (through testing/, which re-exports it). Its recorded and provider-shaped streams lie in
 * fixtures/, next to it, in the sources and in dist/ alike.
 */

export { RESPONSES_STREAMS_DIR } from "./responses.ts";
export {
  type FakeUpstream,
  judgeVerdict,
  PROVIDER_STREAMS_DIR,
  RECORDED_STREAMS_DIR,
  type SeenRequest,
  startFakeUpstream,
} from "./server.ts";
