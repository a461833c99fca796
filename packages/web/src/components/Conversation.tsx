import { asJson, pretty } from "../format.ts";
import { isInlineImage, safeUrl } from "../safe-url.ts";
import type { ChatMessage, ChatRequest, ChatResponse, ContentPart, ToolCall } from "../types.ts";

/** Text content: JSON objects and arrays pretty-printed, anything else as written. */
function TextContent({ text }: { text: string }) {
  const json = asJson(text);
  if (json !== undefined) {
    return (
      <pre className="json msg-json" data-kind="json">
        {JSON.stringify(json, null, 2)}
      </pre>
    );
  }
  return <div className="msg-text">{text}</div>;
}

function Part({ part }: { part: ContentPart }) {
  if (part.type === "text" && typeof part.text === "string") return <TextContent text={part.text} />;
  if (part.type === "image_url" && part.image_url?.url) {
    const raw = part.image_url.url;
    // Whatever the call carried: only http(s) links and data:image pictures are made live.
    const url = safeUrl(raw);
    return (
      <div className="msg-part" data-kind="image">
        <span className="muted small">image{url && isInlineImage(url) ? " (inline)" : ""}: </span>
        {!url ? (
          <code className="inert-url" data-testid="inert-url">
            {String(raw)}
          </code>
        ) : isInlineImage(url) ? (
          <img className="msg-image" src={url} alt="attached" />
        ) : (
          <a href={url} target="_blank" rel="noreferrer noopener">
            {url}
          </a>
        )}
      </div>
    );
  }
  if (part.type === "refusal" && part.refusal) return <div className="refusal">Refusal: {part.refusal}</div>;
  return (
    <div className="msg-part">
      <span className="muted small">{part.type}</span>
      <pre className="json">{pretty(part)}</pre>
    </div>
  );
}

function Content({ content }: { content: ChatMessage["content"] }) {
  if (content === null || content === undefined || content === "") return null;
  if (typeof content === "string") return <TextContent text={content} />;
  if (Array.isArray(content)) {
    return (
      <>
        {content.map((p, i) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: parts have no identity beyond their position
          <Part key={i} part={p} />
        ))}
      </>
    );
  }
  return <pre className="json">{pretty(content)}</pre>;
}

export function ToolCallView({ call }: { call: ToolCall }) {
  const name = call.function?.name ?? call.type ?? "tool";
  const args = call.function?.arguments;
  const parsed = typeof args === "string" ? asJson(args) : undefined;
  return (
    <div className="tool-call" data-tool={name}>
      <div className="tool-call-head">
        <span className="tool-icon" aria-hidden="true">
          ƒ
        </span>
        <code className="tool-name">{name}</code>
        {call.id ? <span className="muted small"> {call.id}</span> : null}
      </div>
      {args !== undefined && args !== "" ? (
        <pre className="json tool-args">
          {parsed !== undefined ? JSON.stringify(parsed, null, 2) : String(args)}
        </pre>
      ) : null}
    </div>
  );
}

export function Message({
  message,
  kind,
  finishReason,
}: {
  message: ChatMessage;
  kind?: "answer";
  finishReason?: string | null;
}) {
  const role = message.role ?? "unknown";
  const toolCalls =
    message.tool_calls ?? (message.function_call ? [{ function: message.function_call }] : []);
  return (
    <div className={`msg msg-${role} ${kind === "answer" ? "msg-answer" : ""}`} data-role={role}>
      <div className="msg-role">
        {role}
        {message.name ? <span className="muted"> · {message.name}</span> : null}
        {message.tool_call_id ? (
          <span className="muted small"> · result of {message.tool_call_id}</span>
        ) : null}
        {kind === "answer" ? <span className="muted small"> · answer</span> : null}
        {finishReason && finishReason !== "stop" ? (
          <span className="muted small"> · finish: {finishReason}</span>
        ) : null}
      </div>
      <div className="msg-body">
        <Content content={message.content} />
        {message.refusal ? <div className="refusal">Refusal: {message.refusal}</div> : null}
        {toolCalls.map((tc, i) => (
          <ToolCallView key={tc.id ?? i} call={tc} />
        ))}
      </div>
    </div>
  );
}

/** The request's messages, then the answer(s) of the response; `skip` hides the first messages (sessions). */
export function Conversation({
  request,
  response,
  error,
  skip = 0,
  showTools = true,
}: {
  request: ChatRequest | null | undefined;
  response: ChatResponse | null | undefined;
  error?: string | null;
  skip?: number;
  showTools?: boolean;
}) {
  const messages = Array.isArray(request?.messages) ? request.messages : [];
  const choices = response?.choices ?? [];
  const tools = request?.tools ?? [];
  return (
    <div className="conversation">
      {showTools && tools.length > 0 ? (
        <details className="tools-offered">
          <summary>
            Tools offered ({tools.length}): {tools.map((t) => t.function?.name ?? t.type).join(", ")}
          </summary>
          <pre className="json">{pretty(tools)}</pre>
        </details>
      ) : null}
      {!request ? <div className="muted">The request was not captured.</div> : null}
      {request && !Array.isArray(request.messages) ? (
        <div className="muted">No messages in the stored request (capture mode may keep metadata only).</div>
      ) : null}
      {messages.slice(skip).map((m, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: messages are positional
        <Message key={i + skip} message={m} />
      ))}
      {choices.map((c, i) => (
        <div key={c.index ?? i}>
          {choices.length > 1 ? <div className="muted small">choice {c.index ?? i}</div> : null}
          {c.message ? (
            <Message message={c.message} kind="answer" finishReason={c.finish_reason} />
          ) : (
            <div className="muted">No message in this choice.</div>
          )}
        </div>
      ))}
      {response?.error ? (
        <div className="msg msg-error" data-role="error">
          <div className="msg-role">error</div>
          <div className="msg-body">
            <TextContent text={response.error.message ?? JSON.stringify(response.error)} />
          </div>
        </div>
      ) : null}
      {!response && error ? (
        <div className="msg msg-error" data-role="error">
          <div className="msg-role">error</div>
          <div className="msg-body">{error}</div>
        </div>
      ) : null}
      {!response && !error && request ? <div className="muted">No response was stored.</div> : null}
    </div>
  );
}

/** The first answer's text, for a correction to start from. */
export function answerText(response: ChatResponse | null | undefined): string {
  const m = response?.choices?.[0]?.message;
  if (!m) return "";
  if (typeof m.content === "string") return m.content;
  if (Array.isArray(m.content)) return m.content.map((p) => p.text ?? "").join("");
  if (m.tool_calls?.length) {
    return m.tool_calls.map((t) => `${t.function?.name}(${t.function?.arguments ?? ""})`).join("\n");
  }
  return "";
}
