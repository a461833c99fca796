/**
 * A small document-title service, instrumented with intersebd. The lines marked `// intersebd` are all it
 * takes; everything else is the service as it would be anyway.
 *
 *   POST /titles              { documentId, text, userId? }   → { titleId, title }
 *   POST /titles/{id}/choice  { userId, accepted, editedTitle? } → { selectionId }
 *   POST /titles/{id}/refine  { instruction, userId? }         → { titleId, title }  (a follow-up turn)
 *
 * Env: PORT, OPENAI_BASE_URL (the intersebd proxy, e.g. http://127.0.0.1:8787/v1), OPENAI_API_KEY,
 * INTERSEBD_URL (the intersebd server, for the SDK), MODEL, SYSTEM_PROMPT (the prompt this deploy ships).
 */
import { randomUUID } from "node:crypto";
import http from "node:http";
import { intersebd } from "intersebd";
import OpenAI from "openai";

const openai = new OpenAI({
  baseURL: process.env.OPENAI_BASE_URL,
  apiKey: process.env.OPENAI_API_KEY ?? "sk-demo",
}); // intersebd: the proxy
const model = process.env.MODEL ?? "gpt-4o-mini";
const systemPrompt =
  process.env.SYSTEM_PROMPT ??
  "Write one short, specific title for the document. Answer with the title only.";

type Message = { role: "system" | "user" | "assistant"; content: string };
interface Title {
  id: string;
  completionId: string;
  text: string;
  documentId: string;
  userId?: string;
  /** The conversation so far, answer included: a refinement continues it. */
  messages: Message[];
}
const titles = new Map<string, Title>();

/** Asks for a title given the conversation so far; every call of one document is one session. */
async function askTitle(messages: Message[], documentId: string, userId?: string) {
  const r = await openai.chat.completions.create(
    { model, messages },
    {
      headers: {
        "x-intersebd-session-id": documentId, // intersebd: group the calls of one document
        ...(userId ? { "x-intersebd-user-id": userId } : {}), // and the user, the unit of experiments
      },
    },
  );
  const text = r.choices[0]?.message.content ?? "";
  const title: Title = {
    id: `title_${randomUUID()}`,
    completionId: r.id,
    text,
    documentId,
    userId,
    messages: [...messages, { role: "assistant", content: text }],
  };
  titles.set(title.id, title);
  intersebd.link({ upstreamTag: r.id, downstreamTag: title.id, metadata: { documentId } }); // intersebd
  return { titleId: title.id, title: title.text };
}

function createTitle(body: { documentId: string; text: string; userId?: string }) {
  const messages: Message[] = [
    { role: "system", content: systemPrompt },
    { role: "user", content: body.text },
  ];
  return askTitle(messages, body.documentId, body.userId);
}

/** A follow-up turn ("shorter, please"): the same conversation, one user message longer. */
function refineTitle(titleId: string, body: { instruction: string }) {
  const title = titles.get(titleId);
  if (!title) return undefined;
  const messages: Message[] = [...title.messages, { role: "user", content: body.instruction }];
  return askTitle(messages, title.documentId, title.userId);
}

function choose(titleId: string, body: { userId: string; accepted: boolean; editedTitle?: string }) {
  const title = titles.get(titleId);
  if (!title) return undefined;
  const selectionId = `sel_${randomUUID()}`;
  const finalTitle = body.editedTitle ?? title.text;
  intersebd.link({ upstreamTag: titleId, downstreamTag: selectionId, metadata: { title: finalTitle } }); // intersebd
  intersebd.annotate({
    annotationKey: selectionId,
    numericReward: body.accepted && !body.editedTitle ? 1 : 0,
    data: { accepted: body.accepted, edited: Boolean(body.editedTitle) },
    correction: body.editedTitle, // the answer the model should have given
    source: "user",
    annotatorId: body.userId,
  }); // intersebd
  if (body.editedTitle) {
    intersebd.notify({
      completionId: title.completionId,
      sendNotificationTo: "editor",
      message: "A user rewrote this title",
    }); // intersebd
  }
  return { selectionId };
}

async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  let raw = "";
  for await (const chunk of req) raw += chunk;
  return JSON.parse(raw || "{}");
}

const server = http.createServer(async (req, res) => {
  const send = (status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  try {
    const choice = /^\/titles\/([^/]+)\/choice$/.exec(req.url ?? "");
    const refine = /^\/titles\/([^/]+)\/refine$/.exec(req.url ?? "");
    if (req.method === "POST" && req.url === "/titles") {
      return send(
        201,
        await createTitle((await readJson(req)) as { documentId: string; text: string; userId?: string }),
      );
    }
    if (req.method === "POST" && choice?.[1]) {
      const r = choose(
        choice[1],
        (await readJson(req)) as { userId: string; accepted: boolean; editedTitle?: string },
      );
      return r ? send(201, r) : send(404, { error: "no such title" });
    }
    if (req.method === "POST" && refine?.[1]) {
      const r = refineTitle(refine[1], (await readJson(req)) as { instruction: string });
      return r ? send(201, await r) : send(404, { error: "no such title" });
    }
    send(404, { error: "not found" });
  } catch (err) {
    send(500, { error: String(err) });
  }
});

server.listen(Number(process.env.PORT ?? 3000), "127.0.0.1", () => {
  process.stdout.write(`title service on http://127.0.0.1:${(server.address() as { port: number }).port}\n`);
});

// On shutdown, send what is still queued. In a long-running service the background flush does this anyway.
process.on("SIGTERM", async () => {
  await intersebd.shutdown(); // intersebd
  server.close(() => process.exit(0));
});
