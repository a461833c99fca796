/**
 * The alerts domain's work for one server: the rules evaluated every INTERSEBD_ALERTS_EVAL_MS, and their webhooks
 * delivered by the notifications' worker (the one notifications started, or, without a notification webhook,
 * one of its own that takes only jobs carrying their URL).
 */
import type { AppContext } from "../context.ts";
import { startWebhookWorker, type WebhookWorker } from "../notifications/index.ts";
import { storeUnavailableReason } from "../store/index.ts";
import { evaluateRules } from "./episodes.ts";
import { listRules } from "./rules.ts";

export interface AlertsService {
  /** A rule names a webhook: make sure something delivers it (jobs are polled for, so none waits long). */
  deliver(): void;
  /** Evaluates every rule now (the timer does it every INTERSEBD_ALERTS_EVAL_MS). */
  evaluate(now?: number): ReturnType<typeof evaluateRules>;
  stop(): Promise<void>;
}

/** @example const alerts = start(ctx, notificationsService.deps.webhook); await alerts.evaluate(); */
export function start(ctx: AppContext, notificationsWebhook?: { enqueued(): void }): AlertsService {
  const { store, config, log } = ctx;
  const cfg = config.alerts;
  let own: WebhookWorker | undefined;
  const enqueued = () => {
    if (notificationsWebhook) return notificationsWebhook.enqueued();
    own ??= startWebhookWorker(
      store,
      { url: undefined, secret: cfg.secret, retryBaseMs: cfg.retryBaseMs, maxAttempts: cfg.maxAttempts },
      log,
    );
    own.enqueued();
  };
  const deps = { store, webhookUrl: cfg.webhookUrl, enqueued };
  // With a webhook configured or named by a rule, delivery starts now: jobs left pending by an earlier run go out.
  if (cfg.webhookUrl) enqueued();
  else
    listRules(store)
      .then((rules) => {
        if (rules.some((r) => r.webhookUrl)) enqueued();
      })
      .catch((err: unknown) => log.warn(`alerts: reading the rules at start: ${String(err)}`));

  let stopped = false;
  let running: Promise<unknown> | undefined;
  const tick = () => {
    if (running || stopped) return;
    running = evaluateRules(deps)
      .catch((err: unknown) => {
        const reason = storeUnavailableReason(err);
        if (reason) log.warn(`alerts: not evaluated (${reason})`);
        else log.error(`alerts: ${(err as Error).stack ?? String(err)}`);
      })
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(tick, cfg.evalMs);
  timer.unref();
  return {
    deliver: enqueued,
    evaluate: (now) => evaluateRules(deps, now),
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await running;
      await own?.stop();
    },
  };
}
