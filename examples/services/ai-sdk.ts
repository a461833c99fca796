/**
 * A service on the Vercel AI SDK's defaults: `openai("gpt-4.1")` from `createOpenAI`, which speaks the OpenAI
 * Responses API (`POST /v1/responses`). The one change for intersebd is the provider's base URL, the proxy; the
 * answer is then linked to the call by the response's `resp_…` id, and annotated (request.ts).
 *
 *   npx node examples/services/ai-sdk.ts "a question"    → prints the answer's id, the resp_… id, the call's page
 *
 * Env: INTERSEBD_URL (the intersebd server; default http://127.0.0.1:8787), OPENAI_API_KEY (forwarded upstream,
 * never stored; the fake upstream takes any).
 */
import { createOpenAI } from "@ai-sdk/openai";
import { generateText } from "ai";
import { handleRequest, INTERSEBD_URL } from "./request.ts";

const openai = createOpenAI({
  baseURL: `${INTERSEBD_URL}/v1`, // intersebd: the proxy
  apiKey: process.env.OPENAI_API_KEY ?? "sk-demo",
});

await handleRequest(
  "ai-sdk",
  async (question) => {
    const { text, response } = await generateText({ model: openai("gpt-4.1"), prompt: question });
    return { text, call: response.id, completionId: response.id }; // resp_…: a tag of the call
  },
  "What does the AI SDK send by default?",
);
