import { useState } from "react";
import { Link } from "react-router";
import { getApiKey, setApiKey } from "../api.ts";
import { TextInput } from "../components/Fields.tsx";
import { ErrorBox, Fact, Loading, PageHead, Section } from "../components/ui.tsx";
import { RECIPIENT_KEY, useApi, useStoredString } from "../hooks.ts";
import type { Settings } from "../types.ts";

function authLabel(auth: Settings["auth"]): string {
  return auth ? "API key required" : "open (no API key)";
}

function fmtTtl(s: number): string {
  if (s % 86400 === 0) return `${s / 86400} day${s === 86400 ? "" : "s"}`;
  if (s % 3600 === 0) return `${s / 3600} h`;
  return `${s} s`;
}

function fmtBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MB`;
  return `${Math.round(n / 1024)} KB`;
}

function fmtDays(d: number | null): string {
  if (d === null) return "kept for good";
  return d >= 1 ? `${d} day${d === 1 ? "" : "s"}` : `${Math.round(d * 24 * 10) / 10} h`;
}

function ThisBrowser() {
  const [recipient, setRecipient] = useStoredString(RECIPIENT_KEY);
  const [hasKey, setHasKey] = useState(Boolean(getApiKey()));
  return (
    <Section title="This browser">
      <dl className="facts">
        <Fact label="Your id (inbox)">
          <TextInput value={recipient} placeholder="e.g. ana" onValue={setRecipient} />
        </Fact>
        <Fact label="API key">
          {hasKey ? "saved in this browser " : "none saved "}
          {hasKey ? (
            <button
              type="button"
              className="small-button"
              onClick={() => {
                setApiKey(null);
                setHasKey(false);
              }}
            >
              Forget it
            </button>
          ) : null}
        </Fact>
      </dl>
    </Section>
  );
}

export default function SettingsPage() {
  const { data: s, error, loading } = useApi<Settings>("/api/settings");
  return (
    <div className="page">
      <PageHead
        title="Settings"
        actions={s?.version ? <span className="muted small">intersebd {s.version}</span> : null}
      />
      {error ? <ErrorBox error={error} /> : null}
      <p>
        <Link to="/settings/keys">API keys</Link>: create one for a service, list, revoke.
      </p>
      <p>
        <Link to="/settings/privacy">Privacy</Link>: erase a user, a session or a tag, and see the audit log.
      </p>
      {loading && !s ? <Loading what="Loading settings" /> : null}
      {s ? (
        <>
          <Section title="Upstreams">
            <table className="upstreams" data-testid="upstreams">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Base URL</th>
                  <th>Proxy path</th>
                  <th>Key</th>
                </tr>
              </thead>
              <tbody>
                {s.upstreams.map((u, i) => (
                  <tr key={u.name}>
                    <td>
                      {u.name}
                      {i === 0 ? <span className="muted small"> (default)</span> : null}
                    </td>
                    <td>
                      <code>{u.baseUrl}</code>
                    </td>
                    <td>
                      <code>{i === 0 ? "/v1" : `/${u.name}/v1`}</code>
                    </td>
                    <td>{u.hasKey ? "server key" : "client's key forwarded"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </Section>
          <Section title="Server">
            <dl className="facts">
              <Fact label="Capture mode">
                <strong>{s.capture}</strong>{" "}
                <span className="muted small">
                  {s.capture === "full"
                    ? "requests and answers stored as sent"
                    : s.capture === "redacted"
                      ? "personal data and secrets masked before storage"
                      : "no message text stored"}
                </span>
              </Fact>
              <Fact label="Access">{authLabel(s.auth)}</Fact>
              <Fact label="Public URL">
                {s.publicUrl ? (
                  <code>{s.publicUrl}</code>
                ) : (
                  <span className="muted">
                    not set (INTERSEBD_PUBLIC_URL); links use the address the server listens on
                  </span>
                )}
              </Fact>
              <Fact label="Annotation links valid for">{fmtTtl(s.tokenTtlSeconds)}</Fact>
            </dl>
          </Section>
          {s.store ? (
            <Section title="Store">
              <dl className="facts" data-testid="store">
                <Fact label="Size">
                  <strong>{s.store.bytes === null ? "—" : fmtBytes(s.store.bytes)}</strong>{" "}
                  <span className="muted small">
                    {s.store.kind === "sqlite" ? "SQLite file and its WAL" : "PostgreSQL tables and indexes"}
                  </span>
                </Fact>
                <Fact label="Request and response text">{fmtDays(s.store.retention.bodiesDays)}</Fact>
                <Fact label="Calls">{fmtDays(s.store.retention.callsDays)}</Fact>
                <Fact label="Annotated calls and calls in a snapshot">
                  {s.store.retention.keptDays === null &&
                  s.store.retention.bodiesDays === null &&
                  s.store.retention.callsDays === null
                    ? "kept for good"
                    : s.store.retention.keptDays === null
                      ? "kept while annotated or in a snapshot"
                      : fmtDays(s.store.retention.keptDays)}
                </Fact>
              </dl>
            </Section>
          ) : null}
          <Section title="Webhook">
            {s.webhook.configured ? (
              <dl className="facts" data-testid="webhook">
                <Fact label="Sends to">
                  <code>{s.webhook.url ?? "(hidden)"}</code>
                </Fact>
                <Fact label="Signing">
                  {s.webhook.signing === true
                    ? "Standard Webhooks signature (webhook-signature)"
                    : s.webhook.signing === false
                      ? "not signed: set INTERSEBD_WEBHOOK_SECRET"
                      : String(s.webhook.signing ?? "—")}
                </Fact>
              </dl>
            ) : (
              <p className="muted" data-testid="webhook">
                No webhook. Set <code>INTERSEBD_WEBHOOK_URL</code> (and <code>INTERSEBD_WEBHOOK_SECRET</code>,
                a <code>whsec_…</code> secret) to POST every notification, with its link, to Slack, mail or
                your own service. Each notification's delivery state shows on its call's page.
              </p>
            )}
          </Section>
        </>
      ) : null}
      <ThisBrowser />
    </div>
  );
}
