import { lazy, Suspense, useEffect, useState } from "react";
import { Link, NavLink, Route, Routes, useLocation } from "react-router";
import { api, getApiKey, NEED_KEY_EVENT, setApiKey } from "./api.ts";
import { AlertsBadge } from "./components/AlertsBadge.tsx";
import { Loading } from "./components/ui.tsx";
import { INBOX_CHANGED_EVENT, RECIPIENT_KEY, useStoredString } from "./hooks.ts";

const CallsPage = lazy(() => import("./pages/CallsPage.tsx"));
const CallPage = lazy(() => import("./pages/CallPage.tsx"));
const SessionsPage = lazy(() => import("./pages/SessionsPage.tsx"));
const SessionPage = lazy(() => import("./pages/SessionPage.tsx"));
const InboxPage = lazy(() => import("./pages/InboxPage.tsx"));
const AnnotatePage = lazy(() => import("./pages/AnnotatePage.tsx"));
const ComparePage = lazy(() => import("./pages/ComparePage.tsx"));
const ReviewPage = lazy(() => import("./pages/ReviewPage.tsx"));
const ReviewQueuePage = lazy(() => import("./pages/ReviewQueuesPage.tsx"));
const RubricsPage = lazy(() => import("./pages/RubricsPage.tsx"));
const SettingsPage = lazy(() => import("./pages/SettingsPage.tsx"));
const KeysPage = lazy(() => import("./pages/KeysPage.tsx"));
const PrivacyPage = lazy(() => import("./pages/PrivacyPage.tsx"));
const DatasetsPage = lazy(() => import("./pages/DatasetsPage.tsx"));
const DatasetPage = lazy(() => import("./pages/DatasetPage.tsx"));
const EvalsPage = lazy(() => import("./pages/EvalsPage.tsx"));
const EvalPage = lazy(() => import("./pages/EvalPage.tsx"));
const MetricsPage = lazy(() => import("./pages/MetricsPage.tsx"));
const ExperimentsPage = lazy(() => import("./pages/ExperimentsPage.tsx"));
const ExperimentPage = lazy(() => import("./pages/ExperimentPage.tsx"));
const AlertsPage = lazy(() => import("./pages/AlertsPage.tsx"));
const JudgesPage = lazy(() => import("./pages/JudgesPage.tsx"));
const JudgePage = lazy(() => import("./pages/JudgePage.tsx"));
const ConversationEvalPage = lazy(() => import("./pages/ConversationEvalPage.tsx"));
const FloorPage = lazy(() => import("./pages/FloorPage.tsx"));
const EvaluatorsPage = lazy(() => import("./pages/EvaluatorsPage.tsx"));

function InboxCount() {
  const [recipient] = useStoredString(RECIPIENT_KEY);
  const location = useLocation();
  const [open, setOpen] = useState<number | null>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const bump = () => setTick((t) => t + 1);
    window.addEventListener(INBOX_CHANGED_EVENT, bump);
    return () => window.removeEventListener(INBOX_CHANGED_EVENT, bump);
  }, []);
  // biome-ignore lint/correctness/useExhaustiveDependencies: refresh on navigation and on inbox changes
  useEffect(() => {
    if (!recipient) {
      setOpen(null);
      return;
    }
    let live = true;
    api
      .get<{ counts?: { open?: number } }>("/api/notifications", { recipient, status: "open", limit: 1 })
      .then(
        (r) => live && setOpen(r.counts?.open ?? null),
        () => live && setOpen(null),
      );
    return () => {
      live = false;
    };
  }, [recipient, location.pathname, tick]);
  if (!open) return null;
  return (
    <span className="count" data-testid="inbox-count" title={`${open} open for ${recipient}`}>
      {open}
    </span>
  );
}

function Nav() {
  return (
    <nav className="nav" aria-label="main">
      <Link to="/" className="brand">
        intersebd
      </Link>
      <div className="nav-links">
        <NavLink to="/" end>
          Calls
        </NavLink>
        <NavLink to="/sessions">Sessions</NavLink>
        <NavLink to="/inbox">
          Inbox <InboxCount />
        </NavLink>
        <NavLink to="/review">Review</NavLink>
        <NavLink to="/review-queues">Queues</NavLink>
        <NavLink to="/floor">Floor</NavLink>
        <NavLink to="/compare">Compare</NavLink>
        <NavLink to="/datasets">Datasets</NavLink>
        <NavLink to="/evals">Evaluations</NavLink>
        <NavLink to="/experiments">Experiments</NavLink>
        <NavLink to="/evaluators">Evaluators</NavLink>
        <NavLink to="/judges">Judges</NavLink>
        <NavLink to="/trends">Metrics</NavLink>
        <NavLink to="/alerts">
          Alerts <AlertsBadge />
        </NavLink>
        <NavLink to="/rubrics">Rubrics</NavLink>
        <NavLink to="/settings">Settings</NavLink>
      </div>
    </nav>
  );
}

/** Asks once for the server's API key when it answers 401, and keeps it in localStorage. */
function KeyPrompt() {
  const [reason, setReason] = useState<string | null>(null);
  const [value, setValue] = useState("");
  useEffect(() => {
    const onNeed = (e: Event) => setReason((e as CustomEvent<string>).detail ?? "API key required");
    window.addEventListener(NEED_KEY_EVENT, onNeed);
    return () => window.removeEventListener(NEED_KEY_EVENT, onNeed);
  }, []);
  if (reason === null) return null;
  const had = getApiKey();
  return (
    <div className="modal-backdrop">
      <form
        className="modal card"
        onSubmit={(e) => {
          e.preventDefault();
          setApiKey(value.trim() || null);
          window.location.reload();
        }}
      >
        <h2>API key</h2>
        <p>
          This intersebd server asks for an API key ({reason}).{" "}
          {had ? "The key saved in this browser was refused." : ""} It is kept in this browser only and sent
          as <code>x-intersebd-key</code>.
        </p>
        <label className="field">
          <span>Key</span>
          {/* biome-ignore lint/a11y/noAutofocus: the only thing to do on this dialog */}
          <input type="password" value={value} onChange={(e) => setValue(e.target.value)} autoFocus />
        </label>
        <div className="row">
          <button type="submit" className="primary">
            Save and reload
          </button>
          <button type="button" onClick={() => setReason(null)}>
            Cancel
          </button>
        </div>
      </form>
    </div>
  );
}

function NotFound() {
  return (
    <div className="page">
      <h1>Page not found</h1>
      <p>
        <Link to="/">Back to the calls</Link>
      </p>
    </div>
  );
}

export function App() {
  const location = useLocation();
  // The annotate page is opened by people with no account: no navigation to pages they cannot use.
  const bare = location.pathname.startsWith("/a/");
  return (
    <>
      {bare ? (
        <nav className="nav bare" aria-label="main">
          <span className="brand">intersebd</span>
        </nav>
      ) : (
        <Nav />
      )}
      <main className={bare ? "main narrow" : "main"}>
        <Suspense fallback={<Loading />}>
          <Routes>
            <Route path="/" element={<CallsPage />} />
            <Route path="/calls/:id" element={<CallPage />} />
            <Route path="/sessions" element={<SessionsPage />} />
            <Route path="/sessions/:id" element={<SessionPage />} />
            <Route path="/inbox" element={<InboxPage />} />
            <Route path="/a/:token" element={<AnnotatePage />} />
            <Route path="/compare" element={<ComparePage />} />
            <Route path="/conversations/evals/:id" element={<ConversationEvalPage />} />
            <Route path="/review" element={<ReviewPage />} />
            <Route path="/review-queues" element={<ReviewQueuePage />} />
            <Route path="/floor" element={<FloorPage />} />
            <Route path="/review-queues/:id" element={<ReviewQueuePage />} />
            <Route path="/rubrics" element={<RubricsPage />} />
            <Route path="/rubrics/:name" element={<RubricsPage />} />
            <Route path="/settings" element={<SettingsPage />} />
            <Route path="/settings/keys" element={<KeysPage />} />
            <Route path="/settings/privacy" element={<PrivacyPage />} />
            <Route path="/datasets" element={<DatasetsPage />} />
            <Route path="/datasets/:name" element={<DatasetPage />} />
            <Route path="/evals" element={<EvalsPage />} />
            <Route path="/evals/:id" element={<EvalPage />} />
            <Route path="/experiments" element={<ExperimentsPage />} />
            <Route path="/experiments/:name" element={<ExperimentPage />} />
            <Route path="/evaluators" element={<EvaluatorsPage />} />
            <Route path="/evaluators/:id" element={<EvaluatorsPage />} />
            <Route path="/judges" element={<JudgesPage />} />
            <Route path="/judges/:name" element={<JudgePage />} />
            {/* Not /metrics: that is the server's Prometheus endpoint, which a reload would open. */}
            <Route path="/trends" element={<MetricsPage />} />
            <Route path="/alerts" element={<AlertsPage />} />
            <Route path="*" element={<NotFound />} />
          </Routes>
        </Suspense>
      </main>
      {bare ? null : <KeyPrompt />}
    </>
  );
}
