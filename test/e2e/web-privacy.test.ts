/**
 * Issue 18's pages in a real browser: Settings › Privacy (a dry run's counts, the confirmation, the erasure seen
 * in the server, the audit row without the id), the trends page's configuration-change markers (a hash in use
 * before the range is not a change in it), and the review page's repeated clusters (largest first, each opening
 * onto its newest calls).
 */
// biome-ignore-all lint/performance/useDomNodeTextContent: Playwright's Locator.innerText (rendered text, with line breaks), not the DOM property
import assert from "node:assert/strict";
import { before, it } from "node:test";
import type { Page } from "playwright-core";
import type { AuditPage, CallsPage, ConfigChanges } from "../../packages/server/src/api-types.ts";
import type { TestServer } from "../../packages/server/src/testing/index.ts";
import { browserSuite, browserWorld, waitForCount } from "./web-support.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** The configuration a server ran before this one: the hash its calls carry (provenance.ts: 16 hex digits). */
const OLD_HASH = "0123456789abcdef";

/** A chat call as the SDK sends it to `POST /api/calls`, 100 ms long (so none is slow next to the others). */
function call(id: string, startedAt: number, extra: Record<string, unknown> = {}, model = "gpt-4o-mini") {
  return {
    id,
    startedAt,
    endedAt: startedAt + 100,
    request: { model, messages: [{ role: "user", content: `question ${id}` }] },
    response: {
      id: `cmpl-${id}`,
      object: "chat.completion",
      model,
      choices: [{ index: 0, message: { role: "assistant", content: `answer ${id}` }, finish_reason: "stop" }],
    },
    ...extra,
  };
}

const failed = (id: string, startedAt: number, model: string) =>
  call(id, startedAt, { outcome: "upstream_error", status: 500, error: "overloaded" }, model);

async function post(server: TestServer, path: string, body: unknown): Promise<void> {
  const r = await server.api(path, { body });
  assert.equal(r.status, 201, `${path}: ${JSON.stringify(r.body)}`);
}

browserSuite("web app: privacy, configuration changes, review clusters", () => {
  const world = browserWorld();
  let server: TestServer;
  let page: Page;
  const now = Date.now();
  let currentHash = "";

  before(async () => {
    ({ server, page } = world);
    await post(server, "/api/calls", [
      // The user to erase: three calls, one of them annotated; and someone else's call, which must stay.
      call("erase-me-1", now - 3 * HOUR, { userId: "user-erase-1" }),
      call("erase-me-2", now - 2 * HOUR, { userId: "user-erase-1" }),
      call("erase-me-3", now - HOUR, { userId: "user-erase-1", sessionId: "sess-erase" }),
      call("keep-me", now - HOUR, { userId: "user-keep" }),
      // The configuration before this one: first seen ten days ago, still in use five hours ago.
      call("old-config-1", now - 10 * DAY),
      call("old-config-2", now - 5 * HOUR),
      // Repeated problems: three errors of one model, two of another.
      failed("mini-err-1", now - 50 * 60_000, "gpt-4o-mini"),
      failed("mini-err-2", now - 40 * 60_000, "gpt-4o-mini"),
      failed("mini-err-3", now - 30 * 60_000, "gpt-4o-mini"),
      failed("big-err-1", now - 20 * 60_000, "gpt-4o"),
      failed("big-err-2", now - 10 * 60_000, "gpt-4o"),
    ]);
    await post(server, "/api/annotations", {
      annotationKey: "cmpl-erase-me-2",
      numericReward: 1,
      source: "user",
      annotatorId: "user-erase-1",
    });
    await server.ctx.recorder.flush();
    // Calls stored by the earlier configuration: the hash is all that tells them apart.
    await server.ctx.store.db
      .updateTable("calls")
      .set({ configHash: OLD_HASH })
      .where("id", "in", ["old-config-1", "old-config-2"])
      .execute();
    const changes = await server.api<ConfigChanges>("/api/status/config-changes");
    assert.equal(changes.status, 200, JSON.stringify(changes.body));
    const current = changes.body.data.find((c) => c.current);
    assert.ok(current, JSON.stringify(changes.body));
    currentHash = current.configHash;
    assert.notEqual(currentHash, OLD_HASH);
  });

  it("previews, confirms and erases a user from Settings › Privacy, and lists the erasure in the audit log", async () => {
    await page.goto(`${server.url}/settings`);
    await page.getByRole("link", { name: "Privacy" }).click();
    await page.getByRole("heading", { name: "Privacy" }).waitFor();
    assert.equal(new URL(page.url()).pathname, "/settings/privacy");
    await page.getByTestId("audit-empty").waitFor();

    const form = page.getByRole("form", { name: "erasure selector" });
    // An id nothing carries: counted, nothing to erase, no button to erase it.
    await form.locator('select[name="kind"]').selectOption("userId");
    await form.locator('input[name="value"]').fill("user-nobody");
    await form.getByRole("button", { name: "Preview" }).click();
    await page.getByTestId("erasure-preview-counts").waitFor();
    assert.match(await page.getByTestId("erasure-preview-counts").innerText(), /Nothing stored matches/);
    assert.equal(await page.getByRole("button", { name: "Erase", exact: true }).count(), 0);

    await form.locator('input[name="value"]').fill("user-erase-1");
    await form.getByRole("button", { name: "Preview" }).click();
    const preview = page.getByTestId("erasure-preview");
    await preview.locator('[data-count="calls"]').waitFor();
    assert.match(await preview.innerText(), /user-erase-1/);
    assert.match(await preview.locator('[data-count="calls"]').innerText(), /^3\s+calls$/);
    assert.match(await preview.locator('[data-count="annotations"]').innerText(), /^1\s+annotation$/);
    // The dry run erased nothing.
    const before = await server.api<CallsPage>("/api/calls?userId=user-erase-1");
    assert.equal(before.body.data.length, 3);

    const erase = preview.getByRole("button", { name: "Erase", exact: true });
    assert.equal(await erase.isDisabled(), true, "erasing waits for the confirmation");
    await preview.getByRole("checkbox").check();
    await erase.click();
    const result = page.getByTestId("erasure-result");
    await result.waitFor();
    assert.match(await result.locator('[data-count="calls"]').innerText(), /^3\s+calls$/);
    assert.equal(await page.getByTestId("erasure-preview").count(), 0, "the preview is spent");

    const gone = await server.api<CallsPage>("/api/calls?userId=user-erase-1");
    assert.deepEqual(gone.body.data, []);
    const kept = await server.api<CallsPage>("/api/calls?userId=user-keep");
    assert.deepEqual(
      kept.body.data.map((c) => c.id),
      ["keep-me"],
    );

    // The audit log on the page is the server's, newest first, and never names the id.
    await waitForCount(page, "[data-testid=audit-log] tbody tr", 1);
    const audit = await server.api<AuditPage>("/api/audit");
    assert.equal(audit.body.entries.length, 1);
    const entry = audit.body.entries[0];
    assert.ok(entry);
    const row = page.locator(`[data-audit-id="${entry.id}"]`);
    const text = await row.innerText();
    assert.match(text, /admin/);
    assert.match(text, /User id/);
    assert.match(text, new RegExp(entry.selectorHash.slice(0, 12)));
    assert.match(await row.getByTestId("audit-counts").innerText(), /^3 calls, .*1 annotation\b/);
    assert.doesNotMatch(await page.getByTestId("audit-log").innerText(), /user-erase-1/);
  });

  it("marks each configuration first seen in the range on the trends charts, with its hash and time", async () => {
    await page.goto(`${server.url}/trends?range=24h`);
    const volume = page.getByTestId("chart-volume");
    await volume.waitFor();
    // The old configuration was in use before these 24 hours: only the current one is a change in them.
    await waitForCount(page, "[data-testid=chart-volume] [data-testid=chart-marker]", 1);
    const marker = volume.getByTestId("chart-marker");
    assert.equal(await marker.innerText(), currentHash.slice(0, 8));
    assert.match(
      (await marker.getAttribute("title")) ?? "",
      new RegExp(`configuration ${currentHash} from `),
    );
    const list = page.getByTestId("config-changes");
    assert.deepEqual(
      await list
        .locator("[data-config-hash]")
        .evaluateAll((els) => els.map((e) => e.getAttribute("data-config-hash"))),
      [currentHash],
    );
    assert.match(await list.innerText(), /this server's configuration now/);
    // The marker stands where the first call with the hash is: left of the chart's right edge, inside it.
    const box = await volume.boundingBox();
    const at = await marker.boundingBox();
    assert.ok(box && at && at.x > box.x && at.x < box.x + box.width, JSON.stringify({ box, at }));

    await page.goto(`${server.url}/trends?range=30d`);
    await waitForCount(page, "[data-testid=chart-volume] [data-testid=chart-marker]", 2);
    const labels = await page
      .getByTestId("chart-volume")
      .getByTestId("chart-marker")
      .evaluateAll((els) => els.map((e) => (e as HTMLElement).innerText));
    assert.deepEqual(labels, [OLD_HASH.slice(0, 8), currentHash.slice(0, 8)]);
    const [oldX, newX] = await page
      .getByTestId("chart-volume")
      .getByTestId("chart-marker")
      .evaluateAll((els) => els.map((e) => e.getBoundingClientRect().x));
    assert.ok(oldX !== undefined && newX !== undefined && oldX < newX, "the older change is further left");
    assert.deepEqual(
      await page
        .getByTestId("config-changes")
        .locator("[data-config-hash]")
        .evaluateAll((els) => els.map((e) => e.getAttribute("data-config-hash"))),
      [OLD_HASH, currentHash],
    );
  });

  it("shows repeated problems first on the review page, largest first, each opening onto its newest calls", async () => {
    await page.goto(server.url);
    await page.getByRole("navigation", { name: "main" }).getByRole("link", { name: "Review" }).click();
    const section = page.getByTestId("review-clusters");
    await section.waitFor();
    const clusters = section.locator("details.review-cluster");
    assert.deepEqual(
      await clusters.evaluateAll((els) => els.map((e) => e.getAttribute("data-cluster-count"))),
      ["3", "2"],
    );
    const first = clusters.nth(0);
    assert.match(
      await first.locator("summary").innerText(),
      /^3 calls · gpt-4o-mini on sdk · upstream_error/,
    );
    assert.match(
      await clusters.nth(1).locator("summary").innerText(),
      /^2 calls · gpt-4o on sdk · upstream_error/,
    );
    // Closed until opened; then its calls, newest first, each a link to the call.
    assert.equal(await first.locator("[data-call-id]").first().isVisible(), false);
    await first.locator("summary").click();
    assert.deepEqual(
      await first
        .locator("[data-call-id]")
        .evaluateAll((els) => els.map((e) => e.getAttribute("data-call-id"))),
      ["mini-err-3", "mini-err-2", "mini-err-1"],
    );
    await first.locator('[data-call-id="mini-err-3"] a').click();
    await page.waitForURL(`${server.url}/calls/mini-err-3`);
  });
});
