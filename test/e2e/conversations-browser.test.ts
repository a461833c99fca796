/**
 * Issue 17's end to end for conversations, in Chromium: two sessions recorded through the proxy with the official
 * `openai` client from a fake upstream playing two personas (Rosa, whose system prompt carries `[[GOOD]]`, and
 * Bernard, whose carries `[[BAD]]`: the fake upstream appends the marker to each answer); a conversation
 * evaluation of a candidate whose system prompt carries `[[GOOD]]`, judged per criterion by the fake judge (it
 * prefers the one answer carrying `[[GOOD]]`, else calls a tie); two annotators, each in their own browser
 * context, reaching every item from the report page and answering one choice per criterion on the compare page
 * (one of them with A and B swapped on some items); then the report's people's numbers equal the answers given,
 * the judge's equal what the fake judge implies, and the report page shows both tables and the caveat.
 */
// biome-ignore-all lint/performance/useDomNodeTextContent: Playwright's Locator.innerText (rendered text), not the DOM property
import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import type OpenAI from "openai";
import type { BrowserContext, Page } from "playwright-core";
import { CAVEAT } from "../../packages/server/src/conversations/book.ts";
import { wilson } from "../../packages/server/src/evals/index.ts";
import { eventually, type TestServer } from "../../packages/server/src/testing/index.ts";
import { browserSuite, browserWorld, openaiFor } from "./web-support.ts";

// biome-ignore lint/suspicious/noExplicitAny: API bodies are read loosely in assertions
type Body = Record<string, any>;
type Choice = "a" | "b" | "tie";
type Outcome = "win" | "tie" | "loss";

const CRITERIA = ["in character", "scenario", "engagement"] as const;
type Criterion = (typeof CRITERIA)[number];

const PERSONAS = {
  rosa: {
    model: "gpt-4.1",
    system: "You are Captain Rosa, a pirate who answers in sea shanties. [[GOOD]]",
    questions: ["Where are we sailing?", "Is there treasure?", "Who guards it?"],
  },
  bernard: {
    model: "gpt-4o-mini",
    system: "You are Sir Bernard, a knight of few words. [[BAD]]",
    questions: ["Which castle is yours?", "Will you fight the dragon?", "When do we leave?"],
  },
} as const;
type Persona = keyof typeof PERSONAS;

/** A chat as a chat client has it: each call resends the history and appends the answer. */
async function converse(client: OpenAI, persona: Persona): Promise<string[]> {
  const p = PERSONAS[persona];
  const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [{ role: "system", content: p.system }];
  const callIds: string[] = [];
  for (const q of p.questions) {
    messages.push({ role: "user", content: q });
    const r = await client.chat.completions.create({ model: p.model, messages }).withResponse();
    callIds.push(r.response.headers.get("x-intersebd-call-id") ?? "");
    messages.push({ role: "assistant", content: r.data.choices[0]?.message.content ?? "" });
  }
  return callIds;
}

/**
 * What each annotator clicks on each item (the items in the evaluation's order: Rosa full, Rosa last 2, Bernard
 * full, Bernard last 2), as shown on screen; `swap` items are judged after "Swap A and B", the original as A.
 */
type Answer = { swap: boolean; choices: Record<Criterion, Choice> };
const ANSWERS: Record<"ana" | "ben", Answer[]> = {
  ana: [
    { swap: false, choices: { "in character": "a", scenario: "tie", engagement: "b" } },
    { swap: false, choices: { "in character": "b", scenario: "b", engagement: "tie" } },
    { swap: false, choices: { "in character": "a", scenario: "a", engagement: "a" } },
    { swap: false, choices: { "in character": "tie", scenario: "a", engagement: "b" } },
  ],
  ben: [
    { swap: true, choices: { "in character": "a", scenario: "a", engagement: "tie" } },
    { swap: false, choices: { "in character": "tie", scenario: "b", engagement: "a" } },
    { swap: true, choices: { "in character": "b", scenario: "tie", engagement: "b" } },
    { swap: false, choices: { "in character": "a", scenario: "tie", engagement: "a" } },
  ],
};

/** Ben comes back to item 1 and answers it again, with A and B swapped: only this answer of his counts there. */
const REVISED: { who: "ben"; n: number; answer: Answer } = {
  who: "ben",
  n: 1,
  answer: { swap: true, choices: { "in character": "a", scenario: "a", engagement: "a" } },
};

/** The answer that counts: the latest a person gave on the item. */
const finalAnswer = (who: "ana" | "ben", n: number): Answer =>
  who === REVISED.who && n === REVISED.n ? REVISED.answer : (ANSWERS[who][n] as Answer);

/** The candidate's outcome a click means: "a" wins for the side shown as A. */
const outcomeOf = (choice: Choice, swapped: boolean): Outcome =>
  choice === "tie" ? "tie" : (choice === "a") !== swapped ? "win" : "loss";

const pct = (x: number) => `${Math.round(x * 100)}%`;

browserSuite("conversation evaluation: two annotators compare per criterion in Chromium", () => {
  const world = browserWorld();
  let server: TestServer;
  let page: Page;
  let benContext: BrowserContext;
  let ben: Page;
  let evalId: string;
  let items: Body[];
  const sessionCalls: Partial<Record<Persona, string[]>> = {};

  before(async () => {
    ({ server, page } = world);
    benContext = await world.browser.newContext({ viewport: { width: 1280, height: 900 } });
    ben = await benContext.newPage();
    for (const persona of Object.keys(PERSONAS) as Persona[])
      sessionCalls[persona] = await converse(
        openaiFor(server, { "x-intersebd-session-id": `sess-${persona}`, "x-intersebd-user-id": persona }),
        persona,
      );
    await server.ctx.recorder.flush();
  });
  after(async () => {
    await benContext?.close();
  });

  it("regenerates each session's last turn with the candidate and judges it per criterion", async () => {
    const created = await server.api<Body>("/api/conversations/evals", {
      body: {
        sessions: ["sess-rosa", "sess-bernard"],
        candidates: [
          {
            name: "steady",
            model: "gpt-4.1-nano",
            systemPrompt: "Stay in character, whoever you are. [[GOOD]]",
          },
        ],
        contextLengths: [null, 2],
        judge: { model: "fake-judge" },
      },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    // Three exchanges per session, shorter than a window: one slice each, at two context lengths.
    assert.deepEqual(
      { ...created.body, id: undefined, estimate: undefined },
      { id: undefined, estimate: undefined, total: 4, sessions: 2, slices: 2 },
    );
    // The fake judge has no price: the estimate knows the candidate's cost and says which model it cannot price.
    assert.deepEqual(
      (created.body as { estimate?: { unpricedModels?: string[] } }).estimate?.unpricedModels,
      ["fake-judge"],
    );
    evalId = created.body.id;
    const report = await eventually(
      async () => {
        const r = await server.api<Body>(`/api/conversations/evals/${evalId}`);
        assert.equal(r.status, 200, JSON.stringify(r.body));
        return r.body.status === "done" ? r.body : undefined;
      },
      30_000,
      "the conversation evaluation to finish",
    );
    assert.deepEqual(report.progress, { total: 4, pending: 0, running: 0, done: 4, failed: 0, skipped: 0 });

    items = (await server.api<Body>(`/api/conversations/evals/${evalId}/items`)).body.data;
    assert.deepEqual(
      items.map((i) => [i.sessionId, i.contextLength, i.targetIndex]),
      [
        ["sess-rosa", null, 5],
        ["sess-rosa", 2, 5],
        ["sess-bernard", null, 5],
        ["sess-bernard", 2, 5],
      ],
    );
    for (const it of items) {
      const persona = it.sessionId === "sess-rosa" ? "rosa" : "bernard";
      // The original is the session's last recorded call; the regeneration a call of its own, logged.
      assert.equal(it.originalCallId, sessionCalls[persona]?.[2]);
      assert.match(it.original, persona === "rosa" ? /\[\[GOOD]]$/ : /\[\[BAD]]$/);
      assert.equal(it.regen, `echo: ${PERSONAS[persona].questions[2]} [[GOOD]]`);
      assert.ok(it.regenCallId);
    }

    // Rosa's answers already carry [[GOOD]]: a tie on every criterion; Bernard's do not: the candidate wins.
    const judge = report.results.find((r: Body) => r.source === "judge");
    assert.equal(judge.comparisons, 4 * 3);
    for (const crit of judge.candidates[0].criteria as Body[])
      for (const cell of crit.byContext as Body[]) {
        assert.deepEqual([cell.n, cell.wins, cell.ties, cell.losses], [2, 1, 1, 0], `${crit.criterion}`);
        assert.deepEqual(cell.winRate, wilson(1, 2));
      }
    const human = report.results.find((r: Body) => r.source === "human");
    assert.equal(human.comparisons, 0);
  });

  /** One annotator's session: every item reached from the report page, answered on the compare page. */
  async function annotate(p: Page, who: "ana" | "ben", answers: Array<[number, Answer]>): Promise<void> {
    for (const [n, answer] of answers) {
      const item = items[n] as Body;
      await p.goto(`${server.url}/conversations/evals/${evalId}`);
      await p.locator(`tr[data-item="${item.index}"] a:text("Compare")`).click();
      await p.waitForURL(/\/compare\?/);
      const form = p.locator("[data-testid=criteria-form]");
      await form.waitFor();
      assert.match(await p.locator("[data-side=a]").innerText(), /gpt-4\.1-nano/, "the regeneration is A");
      // The single-choice shortcuts do nothing here: b then Enter must not store a comparison without criterion.
      await p.locator("h1").click();
      await p.keyboard.press("b");
      await p.keyboard.press("Enter");
      if (answer.swap) {
        await p.click("button:has-text('Swap A and B')");
        await p.waitForURL((u) => u.searchParams.get("a") === item.originalCallId);
        // The form comes back once both calls are loaded again, the original as A.
        await p.waitForFunction(
          (model) =>
            document.querySelector("[data-side=a] h2 a")?.textContent === model &&
            document.querySelector("[data-testid=criteria-form]") !== null,
          PERSONAS[item.sessionId === "sess-rosa" ? "rosa" : "bernard"].model,
        );
      }
      assert.equal(
        await form.locator("button[type=submit]").isDisabled(),
        true,
        "one choice per criterion first",
      );
      for (const crit of CRITERIA) {
        const button = form.locator(`[data-criterion="${crit}"] button[data-choice=${answer.choices[crit]}]`);
        await button.click();
        assert.equal(await button.getAttribute("aria-pressed"), "true");
      }
      await form.locator("input[name=annotatorId]").fill(who);
      await form.locator("button[type=submit]").click();
      await p.locator("[data-testid=comparison-saved]").waitFor();
    }
  }

  it("stores two annotators' per-criterion choices, each from their own browser", async () => {
    await Promise.all([
      annotate(page, "ana", [...ANSWERS.ana.entries()]),
      annotate(ben, "ben", [...ANSWERS.ben.entries()]),
    ]);
    await annotate(ben, REVISED.who, [[REVISED.n, REVISED.answer]]);
    const regenIds = items.map((i) => i.regenCallId as string);
    const rows = await server.ctx.store.db
      .selectFrom("comparisons")
      .select(["a", "b", "choice", "annotatorId", "criterion"])
      .where("source", "=", "human")
      .execute();
    // Every answer is kept, the revision too; the report counts the latest.
    assert.equal(rows.length, 2 * 4 * 3 + 3, JSON.stringify(rows));
    const stored = (a: Answer, crit: Criterion) => {
      const o = outcomeOf(a.choices[crit], a.swap);
      return o === "win" ? "a" : o === "loss" ? "b" : "tie";
    };
    const want = [
      ...(["ana", "ben"] as const).flatMap((who) =>
        ANSWERS[who].flatMap((answer, n) =>
          CRITERIA.map((crit) => ({ who, n, crit, choice: stored(answer, crit) })),
        ),
      ),
      ...CRITERIA.map((crit) => ({
        who: REVISED.who,
        n: REVISED.n,
        crit,
        choice: stored(REVISED.answer, crit),
      })),
    ];
    const got = rows.map((r) => {
      const n = regenIds.indexOf(r.a);
      assert.ok(n >= 0, "the regeneration is stored as a");
      assert.equal(r.b, items[n]?.originalCallId, "the original as b");
      return { who: r.annotatorId, n, crit: r.criterion, choice: r.choice };
    });
    const key = (x: { who: string | null; n: number; crit: string | null; choice: string }) =>
      `${x.who} ${x.n} ${x.crit} ${x.choice}`;
    assert.deepEqual(got.map(key).sort(), want.map(key).sort());
    const all = await server.ctx.store.db.selectFrom("comparisons").select("criterion").execute();
    assert.ok(
      all.every((r) => r.criterion !== null),
      "no comparison without a criterion",
    );
  });

  /** People's win/tie/loss per criterion and context length, from ANSWERS alone. */
  function expectedHuman(): Map<string, { n: number; wins: number; ties: number; losses: number }> {
    const out = new Map<string, { n: number; wins: number; ties: number; losses: number }>();
    for (const who of ["ana", "ben"] as const)
      for (const n of ANSWERS[who].keys())
        for (const crit of CRITERIA) {
          const answer = finalAnswer(who, n);
          const key = `${crit}|${items[n]?.contextLength ?? "full"}`;
          const cell = out.get(key) ?? { n: 0, wins: 0, ties: 0, losses: 0 };
          const o = outcomeOf(answer.choices[crit], answer.swap);
          cell.n++;
          if (o === "win") cell.wins++;
          else if (o === "tie") cell.ties++;
          else cell.losses++;
          out.set(key, cell);
        }
    return out;
  }

  it("reports people's numbers equal to the answers given, with Wilson intervals", async () => {
    const expected = expectedHuman();
    // Hand-checked for one cell: "in character", full slice: ana a (win), a (win); ben swapped a (loss),
    // swapped b (win): 3 wins, 1 loss.
    assert.deepEqual(expected.get("in character|full"), { n: 4, wins: 3, ties: 0, losses: 1 });
    // And one ben revised, "engagement" on the last-2 items (1 and 3): ana tie, b (loss); ben's revision
    // swapped a (loss, his first answer a win no longer counts), then a (win).
    assert.deepEqual(expected.get("engagement|2"), { n: 4, wins: 1, ties: 1, losses: 2 });
    const report = (await server.api<Body>(`/api/conversations/evals/${evalId}`)).body;
    const human = report.results.find((r: Body) => r.source === "human");
    assert.equal(human.comparisons, 24, "ben's revision replaces his first answer");
    let ties = 0;
    for (const crit of human.candidates[0].criteria as Body[])
      for (const cell of crit.byContext as Body[]) {
        const want = expected.get(`${crit.criterion}|${cell.contextLength ?? "full"}`);
        assert.ok(want);
        assert.deepEqual(
          { n: cell.n, wins: cell.wins, ties: cell.ties, losses: cell.losses },
          want,
          `${crit.criterion} at ${cell.contextLength}`,
        );
        assert.deepEqual(cell.winRate, wilson(want.wins, want.n));
        assert.deepEqual(cell.tieRate, wilson(want.ties, want.n));
        assert.deepEqual(cell.lossRate, wilson(want.losses, want.n));
        ties += cell.ties;
      }
    assert.ok(ties > 0, "ties among the answers");
    // The judge's numbers are unchanged by people's choices.
    const judge = report.results.find((r: Body) => r.source === "judge");
    assert.equal(judge.comparisons, 12);
    assert.equal(report.caveat, CAVEAT);
  });

  it("renders the report page: the judge's and people's tables and the caveat", async () => {
    await page.goto(`${server.url}/conversations/evals/${evalId}`);
    await page.locator("[data-testid=conversation-eval]").waitFor();
    assert.equal((await page.locator("[data-testid=caveat]").innerText()).trim(), CAVEAT);
    assert.match(await page.locator("[data-testid=results-judge] h2").innerText(), /Judge · 12 comparisons/);
    assert.match(await page.locator("[data-testid=results-human] h2").innerText(), /People · 24 comparisons/);
    const expected = expectedHuman();
    for (const len of ["full", "2"])
      for (const crit of CRITERIA) {
        const cell = (source: string) =>
          page.locator(
            `[data-testid=results-${source}] tr[data-candidate=steady][data-context="${len}"] td[data-criterion="${crit}"]`,
          );
        const j = wilson(1, 2) as [number, number];
        assert.equal(await cell("judge").innerText(), `1 / 1 / 0 · ${pct(j[0])}–${pct(j[1])}`);
        const h = expected.get(`${crit}|${len}`) as { n: number; wins: number; ties: number; losses: number };
        const w = wilson(h.wins, h.n) as [number, number];
        assert.equal(
          await cell("human").innerText(),
          `${h.wins} / ${h.ties} / ${h.losses} · ${pct(w[0])}–${pct(w[1])}`,
          `${crit} at ${len}`,
        );
      }
    assert.equal(await page.locator("tr[data-item]").count(), 4);
  });
});
