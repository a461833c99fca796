/**
 * Settings › API keys: create a key for a service or a person (its secret is shown this once), list the keys
 * with what they may do and when they were last used, revoke one. Needs an admin key (the server's 403 says so).
 */
import { useState } from "react";
import { Link } from "react-router";
import { type ApiError, api, seg } from "../api.ts";
import { TextInput } from "../components/Fields.tsx";
import { CopyButton, ErrorBox, Fact, Loading, PageHead, Section } from "../components/ui.tsx";
import { useApi } from "../hooks.ts";

const SCOPES = ["ingest", "read", "annotate", "admin"] as const;
type Scope = (typeof SCOPES)[number];

const SCOPE_HELP: Record<Scope, string> = {
  ingest: "a service: the proxy, POST /api/calls, links, annotations, notifications",
  read: "read calls, sessions, reports, datasets",
  annotate: "annotations, comparisons, conversation choices",
  admin: "everything, keys included",
};

interface KeyView {
  id: string;
  name: string;
  scopes: Scope[];
  upstreams: string[] | null;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

const when = (ms: number | null) => (ms === null ? "—" : new Date(ms).toLocaleString());

function CreateKey({ onCreated }: { onCreated: () => void }) {
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<Scope[]>(["ingest"]);
  const [upstreams, setUpstreams] = useState("");
  const [secret, setSecret] = useState<string>();
  const [error, setError] = useState<ApiError | Error>();
  const [busy, setBusy] = useState(false);
  const submit = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const list = upstreams
        .split(",")
        .map((u) => u.trim())
        .filter(Boolean);
      const created = await api.post<KeyView & { secret: string }>("/api/keys", {
        name,
        scopes,
        ...(list.length ? { upstreams: list } : {}),
      });
      setSecret(created.secret);
      setName("");
      onCreated();
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Section title="Create a key">
      {secret ? (
        <div className="card-note" data-testid="new-secret">
          <p>
            The key, shown this once (only its hash is stored): send it as <code>x-intersebd-key</code>.
          </p>
          <code>{secret}</code> <CopyButton text={secret} />{" "}
          <button type="button" className="small-button" onClick={() => setSecret(undefined)}>
            Done
          </button>
        </div>
      ) : null}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <dl className="facts">
          <Fact label="Name">
            <TextInput value={name} placeholder="e.g. checkout-service" onValue={setName} />
          </Fact>
          <Fact label="Scopes">
            {SCOPES.map((s) => (
              <label key={s} title={SCOPE_HELP[s]} style={{ marginRight: "1em" }}>
                <input
                  type="checkbox"
                  checked={scopes.includes(s)}
                  onChange={(e) =>
                    setScopes(e.target.checked ? [...scopes, s] : scopes.filter((x) => x !== s))
                  }
                />{" "}
                {s}
              </label>
            ))}
          </Fact>
          <Fact label="Upstreams">
            <TextInput
              value={upstreams}
              placeholder="any (or names, comma-separated)"
              onValue={setUpstreams}
            />
          </Fact>
        </dl>
        <button type="submit" disabled={busy || !name.trim() || scopes.length === 0}>
          Create key
        </button>
      </form>
      {error ? <ErrorBox error={error} /> : null}
    </Section>
  );
}

export default function KeysPage() {
  const { data, error, loading, reload } = useApi<{ data: KeyView[] }>("/api/keys");
  const [revokeError, setRevokeError] = useState<Error>();
  const revoke = async (k: KeyView) => {
    if (!window.confirm(`Revoke ${k.name} (${k.id})? Requests with it are refused from now on.`)) return;
    try {
      await api.del(`/api/keys/${seg(k.id)}`);
      reload();
    } catch (err) {
      setRevokeError(err as Error);
    }
  };
  return (
    <div className="page">
      <PageHead
        title="API keys"
        actions={
          <Link to="/settings" className="muted small">
            Settings
          </Link>
        }
      />
      <CreateKey onCreated={reload} />
      <Section title="Keys">
        {error ? <ErrorBox error={error} /> : null}
        {revokeError ? <ErrorBox error={revokeError} /> : null}
        {loading && !data ? <Loading what="Loading keys" /> : null}
        {data && data.data.length === 0 ? (
          <p className="muted">No keys yet: INTERSEBD_API_KEY, if set, is the only one (an admin key).</p>
        ) : null}
        {data && data.data.length > 0 ? (
          <table data-testid="keys">
            <thead>
              <tr>
                <th>Name</th>
                <th>Id</th>
                <th>Scopes</th>
                <th>Upstreams</th>
                <th>Created</th>
                <th>Last used</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {data.data.map((k) => (
                <tr key={k.id} className={k.revokedAt ? "muted" : undefined}>
                  <td>{k.name}</td>
                  <td>
                    <code>{k.id}</code>
                  </td>
                  <td>{k.scopes.join(", ")}</td>
                  <td>{k.upstreams?.join(", ") ?? "any"}</td>
                  <td>{when(k.createdAt)}</td>
                  <td>{when(k.lastUsedAt)}</td>
                  <td>
                    {k.revokedAt ? (
                      `revoked ${when(k.revokedAt)}`
                    ) : (
                      <button type="button" className="small-button" onClick={() => void revoke(k)}>
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : null}
      </Section>
    </div>
  );
}
