/**
 * What the three services share: one request handled as a service would, with intersebd's two statements. The
 * service's answer gets an id of its own (as a row in its database would); the id of the LLM call that the
 * service has at hand (a `resp_…` or `msg_…` id, or the request's trace id) is linked to it; the user's
 * thumbs-up, later and maybe elsewhere, names the answer's id alone. Prints one JSON line (the README shows it,
 * the tests read it).
 */
import { randomUUID } from "node:crypto";
import { intersebd } from "intersebd";

/** The intersebd server: the proxy the services call through, and where the SDK sends links and annotations. */
export const INTERSEBD_URL = process.env.INTERSEBD_URL ?? "http://127.0.0.1:8787";

/** What a service's LLM call gave: the answer's text, the call's id to link, the id its page is at. */
export interface Asked {
  text: string;
  /** The tag of the call that the service links its answer to. */
  call: string;
  /** The call's completion id, which its page in the app is at (for a span, the provider's response id). */
  completionId: string;
  /** More to print (the OTel service: the span id). */
  extra?: Record<string, string>;
}

/** Answers the question given on the command line (or `fallback`) with `ask`, links and annotates the answer. */
export async function handleRequest(
  service: string,
  ask: (question: string) => Promise<Asked>,
  fallback: string,
): Promise<void> {
  const { text, call, completionId, extra } = await ask(process.argv[2] ?? fallback);
  const answer = { id: `answer_${randomUUID()}`, text };
  intersebd.link({ upstreamTag: call, downstreamTag: answer.id }); // intersebd: the call → the answer
  // Later, and maybe elsewhere, the user's thumbs-up on the answer: only the service's own id is needed.
  intersebd.annotate({ annotationKey: answer.id, numericReward: 1, source: "user", comment: "helpful" }); // intersebd
  await intersebd.shutdown(); // sends what is queued before the process exits
  const page = `${INTERSEBD_URL}/calls/${completionId}`;
  console.log(JSON.stringify({ service, reply: answer.id, call, ...extra, page }));
}
