/**
 * A service on Anthropic's SDK (`@anthropic-ai/sdk`, Messages API). The one change for intersebd is the client's
 * base URL: the proxy's upstream named `anthropic` (`INTERSEBD_UPSTREAMS=anthropic=https://api.anthropic.com/v1`
 * on the server); the answer is then linked to the call by the message's `msg_…` id, and annotated (request.ts).
 *
 *   npx node examples/services/anthropic.ts "a question"  → prints the answer's id, the msg_… id, the call's page
 *
 * Env: INTERSEBD_URL (the intersebd server; default http://127.0.0.1:8787), ANTHROPIC_API_KEY (forwarded
 * upstream, never stored; the fake upstream takes any).
 */
import Anthropic from "@anthropic-ai/sdk";
import { handleRequest, INTERSEBD_URL } from "./request.ts";

const anthropic = new Anthropic({
  baseURL: `${INTERSEBD_URL}/anthropic`, // intersebd: the proxy's upstream named anthropic
  apiKey: process.env.ANTHROPIC_API_KEY ?? "sk-ant-demo",
});

await handleRequest(
  "anthropic",
  async (question) => {
    const message = await anthropic.messages.create({
      model: "claude-sonnet-4-5",
      max_tokens: 256,
      messages: [{ role: "user", content: question }],
    });
    const text = message.content.map((block) => (block.type === "text" ? block.text : "")).join("");
    return { text, call: message.id, completionId: message.id }; // msg_…: a tag of the call
  },
  "What does Claude answer through a proxy?",
);
