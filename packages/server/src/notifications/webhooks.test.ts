/**
 * Webhook delivery against a local receiver, on every dialect: the Standard Webhooks signature verifies (recomputed
 * here independently), a failing receiver is retried until it answers 2xx, a delivery that keeps failing ends
 * `failed`, and nothing is delivered twice, neither across a restart in the middle of the retries nor with two
 * server instances working the same PostgreSQL database at once.
 */

// Short retry delays for the tests; read by the webhook module when a server starts.
// Fast retries, so a test sees several attempts in a second or two.
const TUNING = { INTERSEBD_WEBHOOK_RETRY_BASE_MS: "50", INTERSEBD_WEBHOOK_MAX_ATTEMPTS: "4" };

import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import {
  DIALECTS,
  type Dialect,
  eventually,
  freshDatabase,
  postgresAvailable,
  startTestServer,
  type TestServer,
} from "../testing/harness.ts";
import { retryDelay, sign } from "./webhooks.ts";

const SECRET_BYTES = Buffer.from("0123456789abcdef0123456789abcdef");
const SECRET = `whsec_${SECRET_BYTES.toString("base64")}`;

interface Receipt {
  id: string;
  timestamp: string;
  signature: string | undefined;
  body: string;
  /** What the receiver answered. */
  answered: number;
}

interface Receiver {
  url: string;
  receipts: Receipt[];
  /** Decides the status for a request, given how many times this webhook-id was received before. */
  respond: (id: string, previous: number) => number;
  close(): Promise<void>;
  delivered(id: string): number;
}

async function startReceiver(): Promise<Receiver> {
  const receipts: Receipt[] = [];
  const r: Receiver = {
    url: "",
    receipts,
    respond: () => 200,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    delivered: (id) => receipts.filter((x) => x.id === id && x.answered < 300).length,
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const id = String(req.headers["webhook-id"]);
      const previous = receipts.filter((x) => x.id === id).length;
      const answered = r.respond(id, previous);
      receipts.push({
        id,
        timestamp: String(req.headers["webhook-timestamp"]),
        signature: req.headers["webhook-signature"] as string | undefined,
        body: Buffer.concat(chunks).toString("utf8"),
        answered,
      });
      res.writeHead(answered, { "content-type": "text/plain", connection: "close" });
      res.end(answered < 300 ? "ok" : "try later");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  return r;
}

interface NotificationOut {
  id: string;
  url: string;
  status: string;
  delivery: null | { status: string; attempts: number; lastError: string | null; deliveredAt: string | null };
}

async function notify(s: TestServer, completionId: string, recipient = "ana"): Promise<NotificationOut> {
  const r = await s.api<NotificationOut>("/api/notifications", {
    body: { completionId, sendNotificationTo: recipient, message: "please judge" },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

const deliveryOf = async (s: TestServer, id: string) =>
  (await s.api<NotificationOut>(`/api/notifications/${id}`)).body.delivery;

/** The receiver's webhook-id for a notification, read from the bodies it got. */
function webhookIdOf(rcv: Receiver, notificationId: string): string | undefined {
  return rcv.receipts.find(
    (x) =>
      (JSON.parse(x.body) as { data: { notification: { id: string } } }).data.notification.id ===
      notificationId,
  )?.id;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function skipWithoutPostgres(dialect: Dialect, t: { skip(msg: string): void }) {
  if (dialect === "postgres" && !(await postgresAvailable())) {
    t.skip("PostgreSQL unreachable (see the message above): this test did NOT run on postgres");
    return true;
  }
  return false;
}

describe("Standard Webhooks signature", () => {
  it("matches the specification's example", () => {
    // From the Standard Webhooks reference libraries' tests.
    assert.equal(
      sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        '{"test": 2432232314}',
      ),
      "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    );
  });
  it("backs off exponentially, within the jitter", () => {
    for (const [attempt, ms] of [
      [1, 1000],
      [2, 4000],
      [3, 16000],
    ] as const) {
      const d = retryDelay(1000, attempt);
      assert.ok(d >= ms * 0.8 && d <= ms * 1.2, `attempt ${attempt}: ${d}`);
    }
    assert.ok(retryDelay(1000, 30) <= 6 * 3600_000 * 1.2, "capped");
  });
});

for (const dialect of DIALECTS) {
  describe(`webhook delivery on ${dialect}`, () => {
    let rcv: Receiver;
    before(async () => {
      rcv = await startReceiver();
    });
    after(async () => {
      await rcv.close();
    });

    it("POSTs the notification and its link, signed so that the receiver can verify it", async (t) => {
      if (await skipWithoutPostgres(dialect, t)) return;
      rcv.respond = () => 204;
      const s = await startTestServer(dialect, {
        env: { ...TUNING, INTERSEBD_WEBHOOK_URL: rcv.url, INTERSEBD_WEBHOOK_SECRET: SECRET },
      });
      try {
        const n = await notify(s, "chatcmpl-hook-1");
        assert.deepEqual(n.delivery, { status: "pending", attempts: 0, lastError: null, deliveredAt: null });
        const d = await eventually(
          async () => {
            const x = await deliveryOf(s, n.id);
            return x?.status === "delivered" && x;
          },
          10_000,
          "delivery",
        );
        assert.equal(d.attempts, 1);
        assert.ok(d.deliveredAt);
        const id = webhookIdOf(rcv, n.id);
        assert.ok(id, "received");
        const got = rcv.receipts.filter((x) => x.id === id);
        assert.equal(got.length, 1);
        const receipt = got[0] as Receipt;

        // Verify as a receiver would, with nothing from our code: HMAC-SHA256 over "id.timestamp.body",
        // keyed with the secret's base64-decoded bytes, base64, after "v1,".
        const expected = createHmac("sha256", SECRET_BYTES)
          .update(`${receipt.id}.${receipt.timestamp}.${receipt.body}`)
          .digest("base64");
        assert.equal(receipt.signature, `v1,${expected}`);
        assert.ok(Math.abs(Number(receipt.timestamp) - Date.now() / 1000) < 300, "unix seconds, recent");
        const tampered = createHmac("sha256", SECRET_BYTES)
          .update(`${receipt.id}.${receipt.timestamp}.${receipt.body.replace("please", "PLEASE")}`)
          .digest("base64");
        assert.notEqual(receipt.signature, `v1,${tampered}`);

        const body = JSON.parse(receipt.body) as {
          type: string;
          timestamp: string;
          data: { notification: { id: string; recipient: string; completionId: string }; url: string };
        };
        assert.equal(body.type, "notification.created");
        assert.equal(body.data.notification.id, n.id);
        assert.equal(body.data.notification.recipient, "ana");
        assert.equal(body.data.notification.completionId, "chatcmpl-hook-1");
        assert.equal(body.data.url, n.url, "the absolute link to the annotation page");
        assert.ok(!Number.isNaN(Date.parse(body.timestamp)));
      } finally {
        await s.stop();
      }
    });

    it("retries a failing receiver until it answers 2xx, with the same webhook-id", async (t) => {
      if (await skipWithoutPostgres(dialect, t)) return;
      rcv.respond = (_id, previous) => (previous < 2 ? 503 : 200);
      const s = await startTestServer(dialect, {
        env: { ...TUNING, INTERSEBD_WEBHOOK_URL: rcv.url, INTERSEBD_WEBHOOK_SECRET: SECRET },
      });
      try {
        const n = await notify(s, "chatcmpl-hook-retry");
        const failing = await eventually(
          async () => {
            const x = await deliveryOf(s, n.id);
            return x && x.attempts >= 1 && x.status === "pending" && x;
          },
          10_000,
          "a failed first attempt",
        );
        assert.match(failing.lastError ?? "", /HTTP 503/);
        const d = await eventually(
          async () => {
            const x = await deliveryOf(s, n.id);
            return x?.status === "delivered" && x;
          },
          10_000,
          "delivery after retries",
        );
        assert.equal(d.attempts, 3);
        assert.equal(d.lastError, null);
        const id = webhookIdOf(rcv, n.id) as string;
        assert.deepEqual(
          rcv.receipts.filter((x) => x.id === id).map((x) => x.answered),
          [503, 503, 200],
        );
        // Each attempt is signed afresh over the same body.
        const mine = rcv.receipts.filter((x) => x.id === id);
        assert.equal(new Set(mine.map((x) => x.body)).size, 1);
        for (const x of mine) {
          const mac = createHmac("sha256", SECRET_BYTES)
            .update(`${x.id}.${x.timestamp}.${x.body}`)
            .digest("base64");
          assert.equal(x.signature, `v1,${mac}`);
        }
      } finally {
        await s.stop();
      }
    });

    it("gives up after INTERSEBD_WEBHOOK_MAX_ATTEMPTS and shows the last error", async (t) => {
      if (await skipWithoutPostgres(dialect, t)) return;
      rcv.respond = () => 500;
      const s = await startTestServer(dialect, { env: { ...TUNING, INTERSEBD_WEBHOOK_URL: rcv.url } });
      try {
        const n = await notify(s, "chatcmpl-hook-fail");
        const d = await eventually(
          async () => {
            const x = await deliveryOf(s, n.id);
            return x?.status === "failed" && x;
          },
          15_000,
          "failed delivery",
        );
        assert.equal(d.attempts, 4);
        assert.match(d.lastError ?? "", /HTTP 500: try later/);
        const id = webhookIdOf(rcv, n.id) as string;
        assert.equal(rcv.receipts.filter((x) => x.id === id).length, 4);
        assert.equal(rcv.receipts.find((x) => x.id === id)?.signature, undefined, "no secret: unsigned");
      } finally {
        await s.stop();
      }
    });

    it("does not send a notification revoked before its delivery", async (t) => {
      if (await skipWithoutPostgres(dialect, t)) return;
      rcv.respond = () => 503;
      const s = await startTestServer(dialect, { env: { ...TUNING, INTERSEBD_WEBHOOK_URL: rcv.url } });
      try {
        const n = await notify(s, "chatcmpl-hook-revoked");
        await eventually(
          async () => ((await deliveryOf(s, n.id))?.attempts ?? 0) >= 1,
          10_000,
          "first attempt",
        );
        await s.api(`/api/notifications/${n.id}/revoke`, { method: "POST" });
        const d = await eventually(
          async () => {
            const x = await deliveryOf(s, n.id);
            return x?.status === "failed" && x;
          },
          10_000,
          "cancelled delivery",
        );
        assert.match(d.lastError ?? "", /revoked/);
        const id = webhookIdOf(rcv, n.id) as string;
        const count = rcv.receipts.filter((x) => x.id === id).length;
        assert.ok(count < 4, `stopped early (${count} attempts)`);
      } finally {
        await s.stop();
      }
    });

    it("delivers nothing twice across a restart in the middle of the retries", async (t) => {
      if (await skipWithoutPostgres(dialect, t)) return;
      rcv.respond = (_id, previous) => (previous < 2 ? 503 : 200);
      const fresh = await freshDatabase(dialect);
      const env = { ...TUNING, INTERSEBD_WEBHOOK_URL: rcv.url, INTERSEBD_WEBHOOK_SECRET: SECRET };
      try {
        const a = await startTestServer(dialect, { db: fresh.db, dataDir: fresh.dataDir, env });
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) ids.push((await notify(a, `chatcmpl-restart-${i}`)).id);
        // Stop as soon as every delivery has failed once: each is between two attempts.
        await eventually(() => ids.every((n) => webhookIdOf(rcv, n) !== undefined), 10_000, "first attempts");
        await a.close();
        const receivedByA = rcv.receipts.length;
        assert.ok(
          ids.some((n) => rcv.delivered(webhookIdOf(rcv, n) as string) === 0),
          "some deliveries were still pending at the restart",
        );

        const b = await startTestServer(dialect, { db: fresh.db, dataDir: fresh.dataDir, env });
        try {
          for (const n of ids) {
            await eventually(
              async () => (await deliveryOf(b, n))?.status === "delivered",
              10_000,
              `delivery of ${n} after the restart`,
            );
          }
          assert.ok(rcv.receipts.length > receivedByA, "the new instance took over the retries");
          // Let both pollers run a few more rounds: nothing more may arrive.
          const settled = rcv.receipts.length;
          await sleep(300);
          assert.equal(rcv.receipts.length, settled, "nothing sent after delivery");
          for (const n of ids) {
            const id = webhookIdOf(rcv, n) as string;
            assert.equal(rcv.delivered(id), 1, `${n} delivered exactly once`);
            assert.deepEqual(
              rcv.receipts.filter((x) => x.id === id).map((x) => x.answered),
              [503, 503, 200],
              `${n}: one attempt per retry, none repeated`,
            );
            assert.equal((await deliveryOf(b, n))?.attempts, 3);
          }
        } finally {
          await b.close();
        }
      } finally {
        await fresh.drop();
      }
    });

    if (dialect === "postgres") {
      it("two instances on one database deliver each notification exactly once", async (t) => {
        if (await skipWithoutPostgres(dialect, t)) return;
        // Every first attempt fails, so each delivery is claimed at least twice, by either instance.
        rcv.respond = (_id, previous) => (previous < 1 ? 503 : 200);
        const fresh = await freshDatabase(dialect);
        const env = { ...TUNING, INTERSEBD_WEBHOOK_URL: rcv.url, INTERSEBD_WEBHOOK_SECRET: SECRET };
        try {
          const a = await startTestServer(dialect, { db: fresh.db, dataDir: fresh.dataDir, env });
          const b = await startTestServer(dialect, { db: fresh.db, dataDir: fresh.dataDir, env });
          try {
            const ids: string[] = [];
            for (let round = 0; round < 3; round++) {
              const batch = Array.from({ length: 10 }, (_, i) => ({
                completionId: `chatcmpl-two-${round}-${i}`,
                sendNotificationTo: `two-${i % 3}`,
              }));
              for (const s of [a, b]) {
                const r = await s.api<{ data: NotificationOut[] }>("/api/notifications", { body: batch });
                assert.equal(r.status, 201);
                ids.push(...r.body.data.map((x) => x.id));
              }
            }
            assert.equal(ids.length, 60);
            await eventually(
              async () => {
                const all = await a.api<{ data: NotificationOut[] }>("/api/notifications?limit=200");
                return all.body.data.filter((x) => x.delivery?.status === "delivered").length === 60;
              },
              20_000,
              "all 60 delivered",
            );
            await sleep(300);
            for (const n of ids) {
              const id = webhookIdOf(rcv, n);
              assert.ok(id, `${n} received`);
              assert.equal(rcv.delivered(id), 1, `${n} delivered exactly once`);
              assert.deepEqual(
                rcv.receipts.filter((x) => x.id === id).map((x) => x.answered),
                [503, 200],
                `${n}: no attempt made twice`,
              );
            }
          } finally {
            await Promise.all([a.close(), b.close()]);
          }
        } finally {
          await fresh.drop();
        }
      });
    }
  });
}
