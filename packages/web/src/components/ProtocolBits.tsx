/**
 * A call's protocol in the app: every call is shown in the chat shape (its request and response), so the badge is
 * what tells a Responses, Messages or OpenTelemetry call apart, and the originals are what it sent and received.
 */
import type { CallView } from "../types.ts";
import { JsonBlock } from "./ui.tsx";

type Protocol = CallView["protocol"];

const LABELS: Record<Protocol, { short: string; long: string }> = {
  chat: { short: "Chat", long: "Chat Completions" },
  responses: { short: "Responses", long: "Responses API" },
  messages: { short: "Messages", long: "Anthropic Messages" },
  otlp: { short: "OTLP", long: "OpenTelemetry span" },
};

/** The protocol as a badge; a chat call gets one only where `always` (the list leaves the default unmarked). */
export function ProtocolBadge({
  protocol,
  always = false,
}: {
  protocol: Protocol | undefined;
  always?: boolean;
}) {
  const p = protocol ?? "chat";
  if (p === "chat" && !always) return null;
  const label = LABELS[p] ?? { short: p, long: p };
  return (
    <span className={`badge protocol protocol-${p}`} data-protocol={p} title={label.long}>
      {label.short}
    </span>
  );
}

/** The bodies as received, collapsed: the conversation above is their chat shape. */
export function OriginalBodies({
  call,
}: {
  call: Pick<CallView, "protocol" | "conversionError" | "originalRequest" | "originalResponse">;
}) {
  if (call.protocol === "chat") return null;
  const label = LABELS[call.protocol]?.long ?? call.protocol;
  return (
    <section className="card original-bodies" data-testid="original-bodies">
      {call.conversionError ? (
        <p className="error-text" data-testid="conversion-error">
          Not converted to chat: {call.conversionError}
        </p>
      ) : null}
      <details open={Boolean(call.conversionError)}>
        <summary>
          <h2>Original ({label})</h2>
        </summary>
        <h3 className="small muted">Request</h3>
        {call.originalRequest ? (
          <JsonBlock value={call.originalRequest} className="original-request" />
        ) : (
          <p className="muted small">Not stored.</p>
        )}
        <h3 className="small muted">Response</h3>
        {call.originalResponse ? (
          <JsonBlock value={call.originalResponse} className="original-response" />
        ) : (
          <p className="muted small">Not stored.</p>
        )}
      </details>
    </section>
  );
}
