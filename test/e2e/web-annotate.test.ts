/**
 * Notify and annotate by hand, in a real browser: a developer asks someone to judge a call, the annotator
 * finds it in her inbox, follows the link, answers with the keyboard, and the answers are annotations;
 * j/k walk the inbox's items only when the inbox opened the page (a mailed link opens one item and nothing else);
 * tampered and expired links get a clear page; the page works at a phone's width, under the app's strict CSP,
 * and a `javascript:` image URL in a message stays inert text.
 */
// biome-ignore-all lint/performance/useDomNodeTextContent: Playwright's Locator.innerText (rendered text, with line breaks), not the DOM property
import assert from "node:assert/strict";
import { before, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import { eventually, type TestServer } from "../../packages/server/src/testing/index.ts";
import { browserSuite, browserWorld, type Seeded, seedTraffic, waitForCount } from "./web-support.ts";

// biome-ignore lint/suspicious/noExplicitAny: API bodies are read loosely in assertions
type Body = Record<string, any>;

browserSuite("web app: notify and annotate", () => {
  const world = browserWorld();
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let seeded: Seeded;
  /** The annotate pages' paths, in the order the notifications were made. */
  const links: string[] = [];

  const annotationsOf = async (id: string): Promise<Body[]> => {
    const r = await server.api<Body>(`/api/calls/${encodeURIComponent(id)}`);
    assert.equal(r.status, 200);
    return r.body.annotations as Body[];
  };

  /** What Chromium reported against the Content-Security-Policy, on any page of this suite. */
  const cspViolations: string[] = [];

  before(async () => {
    ({ server, browser, page } = world);
    page.on("console", (m) => {
      if (/Content Security Policy|Refused to (load|apply|execute|connect|frame)/i.test(m.text())) {
        cspViolations.push(m.text());
      }
    });
    seeded = await seedTraffic(server);
  });

  it("sends the annotate page with a strict CSP and no framing or referrer", async () => {
    const r = await server.api<Body>("/api/notifications", {
      body: { completionId: seeded.failed.id, sendNotificationTo: "headers-check" },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const res = await page.goto(r.body.url);
    assert.ok(res);
    const headers = res.headers();
    assert.match(headers["content-security-policy"] ?? "", /script-src 'self'; style-src 'self'/);
    assert.match(headers["content-security-policy"] ?? "", /frame-ancestors 'none'/);
    assert.equal(headers["x-frame-options"], "DENY");
    assert.equal(headers["referrer-policy"], "no-referrer");
    await page.locator("[data-testid=annotate-form]").waitFor();
  });

  it("lets a developer ask someone to judge a call from its page, and shows the link", async () => {
    await page.goto(`${server.url}/calls/${seeded.plain.id}`);
    await page.click("button:has-text('Ask someone to judge')");
    await page.fill("form.ask input[name=recipient]", "ana");
    await page.fill("form.ask input[name=message]", "Is this password answer right?");
    await page.click("form.ask button[type=submit]");
    const link = page.locator("[data-testid=notification-url]");
    await link.waitFor();
    const url = new URL(await link.innerText());
    assert.match(url.pathname, /^\/a\/[^/]+$/, "a link to the annotate page");
    links.push(url.pathname);
    const asked = page.locator("[data-testid=notifications] li[data-status=open]");
    await asked.waitFor();
    assert.match(await asked.innerText(), /ana/, "the call page lists who was asked");

    // A second item for ana, made the way a service makes it.
    const r = await server.api<Body>("/api/notifications", {
      body: {
        completionId: seeded.json.completionId,
        sendNotificationTo: "ana",
        message: "Check the extraction",
      },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    links.push(new URL(r.body.url).pathname);
  });

  it("shows ana her open items and their count once she has said who she is", async () => {
    await page.goto(`${server.url}/inbox?recipient=ana`);
    await waitForCount(page, "[data-testid=inbox-list] li", 2);
    const count = page.locator("[data-testid=inbox-count]");
    await count.waitFor();
    assert.equal(await count.innerText(), "2");
    const hrefs = await page.$$eval("[data-testid=inbox-list] a", (as) =>
      as.map((a) => a.getAttribute("href")),
    );
    assert.deepEqual(new Set(hrefs), new Set(links), "each item opens its annotate page");
    // The browser remembers her: the inbox opens on her items without the query.
    await page.goto(`${server.url}/inbox`);
    await waitForCount(page, "[data-testid=inbox-list] li", 2);
  });

  it("takes her answer from the keyboard (y, Enter) and stores it as a human annotation by her", async () => {
    // Opened from her inbox, which hands the page its list of items for j/k.
    await page.goto(`${server.url}/inbox?recipient=ana`);
    await page.click(`[data-testid=inbox-list] a[href="${links[0]}"]`);
    await page.waitForURL((u) => u.pathname === links[0]);
    await page.locator("[data-testid=annotate-form]").waitFor();
    assert.match(await page.locator(".conversation").innerText(), /How do I reset my password\?/);
    assert.equal(await page.locator(".context").count(), 0, "nothing of the call beyond its conversation");
    const shown = await page.locator("[data-testid=annotate-page]").innerText();
    for (const hidden of ["T-1001", "user-42", "sess-support", seeded.plain.id, seeded.plain.completionId]) {
      assert.ok(!shown.includes(hidden), `the page shows ${hidden}`);
    }
    const correction = page.locator("[data-field=correction] textarea");
    assert.equal(
      await correction.inputValue(),
      "echo: How do I reset my password?",
      "prefilled with the answer",
    );

    await page.keyboard.press("y");
    await page.waitForSelector("[data-field=reward] button[data-option=yes][aria-pressed=true]");
    await page.keyboard.press("Enter");
    await page.locator("[data-testid=thanks]").waitFor();
    assert.match(await page.locator("[data-testid=thanks]").innerText(), /Thanks — saved/);

    const human = await eventually(async () => {
      const list = await annotationsOf(seeded.plain.id);
      return list.find((a) => a.source === "human");
    });
    assert.equal(human.name, "reward");
    assert.equal(human.numericReward, 1);
    assert.equal(human.annotatorId, "ana");
    const all = await annotationsOf(seeded.plain.id);
    assert.equal(
      all.filter((a) => a.source === "human").length,
      1,
      "only the answered field: the untouched correction and empty comment are not sent",
    );
    const done = await server.api<Body>("/api/notifications?recipient=ana&status=done");
    assert.equal(done.status, 200);
    assert.deepEqual(
      done.body.data.map((n: Body) => n.completionId),
      [seeded.plain.completionId],
      "the item is marked done",
    );
  });

  it("goes to the inbox's next open item with j, and stores an edited correction with n", async () => {
    await page.keyboard.press("j");
    await page.waitForURL((u) => u.pathname === links[1]);
    await page.locator("[data-testid=annotate-form]").waitFor();
    assert.match(await page.locator(".conversation").innerText(), /Extract the order number/);
    await page.keyboard.press("n");
    await page.waitForSelector("[data-field=reward] button[data-option=no][aria-pressed=true]");
    const fixed = '{"orderNumber": "1234"}';
    await page.fill("[data-field=correction] textarea", fixed);
    await page.fill("[data-field=comment] textarea", "should extract the number only");
    await page.click("[data-testid=annotate-form] button[type=submit]");
    await page.locator("[data-testid=thanks]").waitFor();

    const list = await eventually(async () => {
      const l = (await annotationsOf(seeded.json.id)).filter((a) => a.source === "human");
      return l.length >= 3 ? l : undefined;
    });
    const byName = Object.fromEntries(list.map((a) => [a.name, a]));
    assert.equal(byName.reward?.numericReward, 0);
    assert.ok(JSON.stringify(byName.correction).includes("orderNumber"), JSON.stringify(byName.correction));
    assert.ok(JSON.stringify(byName.comment).includes("should extract the number only"));
    for (const a of list) assert.equal(a.annotatorId, "ana");
    assert.match(
      await page.locator("[data-testid=thanks]").innerText(),
      /last open item/,
      "both of the inbox's items are answered",
    );
  });

  it("opened from a mailed link, shows one item: j and k go nowhere", async () => {
    const made: string[] = [];
    for (const completionId of [seeded.tool.completionId, seeded.followUp.completionId]) {
      const r = await server.api<Body>("/api/notifications", {
        body: { completionId, sendNotificationTo: "mailed" },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      made.push(new URL(r.body.url).pathname);
    }
    await page.goto(server.url + made[0]);
    await page.locator("[data-testid=annotate-form]").waitFor();
    assert.equal(await page.getByText("Skip to next").count(), 0);
    assert.equal(await page.getByText("Previous").count(), 0);
    await page.keyboard.press("j");
    await page.keyboard.press("k");
    await page.keyboard.press("y");
    await page.waitForSelector("[data-field=reward] button[data-option=yes][aria-pressed=true]");
    assert.equal(new URL(page.url()).pathname, made[0], "still on the mailed item");
    await page.keyboard.press("Enter");
    await page.locator("[data-testid=thanks]").waitFor();
    assert.doesNotMatch(await page.locator("[data-testid=thanks]").innerText(), /Next item/);
    await page.keyboard.press("j");
    assert.equal(new URL(page.url()).pathname, made[0]);
  });

  it("shows a javascript: image URL as inert text, and an https one as a link", async () => {
    const ingest = await server.api<Body>("/api/calls", {
      body: {
        id: "call_js_url",
        request: {
          model: "gpt-4o-mini",
          messages: [
            {
              role: "user",
              content: [
                { type: "text", text: "What is in these pictures?" },
                { type: "image_url", image_url: { url: "javascript:alert(document.domain)" } },
                { type: "image_url", image_url: { url: "https://example.com/cat.png" } },
                { type: "image_url", image_url: { url: "data:text/html,<script>alert(1)</script>" } },
              ],
            },
          ],
        },
        response: {
          id: "chatcmpl-js-url",
          object: "chat.completion",
          model: "gpt-4o-mini",
          choices: [{ index: 0, message: { role: "assistant", content: "A cat." }, finish_reason: "stop" }],
        },
      },
    });
    assert.equal(ingest.status, 201, JSON.stringify(ingest.body));
    const r = await server.api<Body>("/api/notifications", {
      body: { completionId: "chatcmpl-js-url", sendNotificationTo: "url-check" },
    });
    await page.goto(r.body.url);
    await page.locator("[data-testid=annotate-form]").waitFor();
    const inert = await page.locator("[data-testid=inert-url]").allInnerTexts();
    assert.deepEqual(inert, [
      "javascript:alert(document.domain)",
      "data:text/html,<script>alert(1)</script>",
    ]);
    const hrefs = await page.$$eval(".conversation a[href]", (as) => as.map((a) => a.getAttribute("href")));
    assert.deepEqual(hrefs, ["https://example.com/cat.png"]);
    assert.equal(await page.locator(".conversation img").count(), 0);
  });

  it("shows the answered items under Done and no open count any more", async () => {
    await page.goto(`${server.url}/inbox?recipient=ana&status=done`);
    await waitForCount(page, "[data-testid=inbox-list] li[data-status=done]", 2);
    await page.goto(`${server.url}/inbox?recipient=ana`);
    await page.getByText("Nothing to judge").waitFor();
    assert.equal(await page.locator("[data-testid=inbox-count]").count(), 0);
  });

  it("refuses a tampered link with a page that says the link is not valid", async () => {
    const path = links[0] as string;
    // One character changed well inside the token (a last base64 character may carry only padding bits).
    const i = path.length - 8;
    const tampered = path.slice(0, i) + (path[i] === "A" ? "B" : "A") + path.slice(i + 1);
    await page.goto(server.url + tampered);
    const problem = page.locator("[data-testid=token-error]");
    await problem.waitFor();
    assert.equal(await problem.getAttribute("data-status"), "401");
    assert.match(await problem.locator("h1").innerText(), /not valid/);
    assert.equal(await page.locator("[data-testid=annotate-form]").count(), 0, "no form, no call");
    assert.equal(await page.locator(".conversation").count(), 0);
  });

  it("refuses an expired link with a page that says it has expired", async () => {
    const r = await server.api<Body>("/api/notifications", {
      body: { completionId: seeded.other.completionId, sendNotificationTo: "bo", expiresInSeconds: 1 },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const path = new URL(r.body.url).pathname;
    await eventually(
      async () => (await server.api(`/api${path}`)).status === 410,
      10_000,
      "the link to expire",
    );
    await page.goto(server.url + path);
    const problem = page.locator("[data-testid=token-error]");
    await problem.waitFor();
    assert.equal(await problem.getAttribute("data-status"), "410");
    assert.match(await problem.locator("h1").innerText(), /expired/);
  });

  it("refuses a link revoked from the call page with a page that says it was withdrawn", async () => {
    const r = await server.api<Body>("/api/notifications", {
      body: { completionId: seeded.other.completionId, sendNotificationTo: "cy" },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    await page.goto(`${server.url}/calls/${seeded.other.id}`);
    const item = page.locator("[data-testid=notifications] li", { hasText: "cy" });
    await item.locator("button:has-text('Revoke')").click();
    await page.locator("[data-testid=notifications] li[data-status=revoked]").waitFor();
    await page.goto(server.url + new URL(r.body.url).pathname);
    const problem = page.locator("[data-testid=token-error]");
    await problem.waitFor();
    assert.equal(await problem.getAttribute("data-status"), "410");
    assert.match(await problem.locator("h1").innerText(), /withdrawn/);
  });

  it("fits a phone's width: no sideways scrolling, the thumbs and the submit button in reach", async () => {
    const r = await server.api<Body>("/api/notifications", {
      body: { completionId: seeded.tool.completionId, sendNotificationTo: "end-user-9" },
    });
    assert.equal(r.status, 201);
    const phone = await browser.newContext({
      viewport: { width: 375, height: 740 },
      isMobile: true,
      hasTouch: true,
    });
    try {
      const p = await phone.newPage();
      await p.goto(server.url + new URL(r.body.url).pathname);
      await p.locator("[data-testid=annotate-form]").waitFor();
      assert.equal(await p.locator("nav .nav-links").count(), 0, "no app navigation for a link's visitor");
      const width = await p.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 375, `page is ${width}px wide at a 375px viewport`);
      const yes = await p.locator("button[data-option=yes]").boundingBox();
      const submit = await p.locator("[data-testid=annotate-form] button[type=submit]").boundingBox();
      assert.ok(yes && yes.x >= 0 && yes.x + yes.width <= 375 && yes.height >= 44, JSON.stringify(yes));
      assert.ok(submit && submit.x >= 0 && submit.x + submit.width <= 375, JSON.stringify(submit));
      await p.locator("button[data-option=yes]").tap();
      await p.locator("[data-testid=annotate-form] button[type=submit]").tap();
      await p.locator("[data-testid=thanks]").waitFor();
      const list = await eventually(async () =>
        (await annotationsOf(seeded.tool.id)).find((a) => a.annotatorId === "end-user-9"),
      );
      assert.equal(list.numericReward, 1);
    } finally {
      await phone.close();
    }
  });

  it("ran every page of this suite without a Content-Security-Policy violation", () => {
    assert.deepEqual(cspViolations, []);
  });
});
