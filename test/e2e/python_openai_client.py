"""Drives intersebd's proxy with the official Python `openai` client, the way applications use it, and prints
what the client got as one JSON object on stdout (read by python-openai.test.ts).

Each case is keyed by name and holds the completion id, the content, the tool calls, the finish reason and the
usage exactly as the client assembled them. Reads INTERSEBD_BASE_URL (the server's root URL).
"""

import json
import os
import sys

import openai

BASE = os.environ["INTERSEBD_BASE_URL"]
client = openai.OpenAI(base_url=BASE + "/v1", api_key="sk-test", max_retries=0)

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def tool_calls_of(message):
    return [
        {"id": t.id, "type": t.type, "name": t.function.name, "arguments": t.function.arguments}
        for t in (message.tool_calls or [])
    ]


def usage_of(usage):
    if usage is None:
        return None
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def from_completion(c):
    """What a ChatCompletion (returned, or assembled by the stream helper) holds."""
    choice = c.choices[0]
    return {
        "id": c.id,
        "model": c.model,
        "content": choice.message.content,
        "tool_calls": tool_calls_of(choice.message),
        "finish_reason": choice.finish_reason,
        "usage": usage_of(c.usage),
    }


def read_stream(stream):
    """`for chunk in stream`, assembling as an application does; the client stops at `data: [DONE]`."""
    out = {"id": None, "model": None, "content": None, "tool_calls": [], "finish_reason": None, "usage": None}
    calls = {}
    for chunk in stream:
        out["id"] = out["id"] or chunk.id
        out["model"] = out["model"] or chunk.model
        if chunk.usage is not None:
            out["usage"] = usage_of(chunk.usage)
        for choice in chunk.choices:
            if choice.index != 0:
                continue
            delta = choice.delta
            if delta.content is not None:
                out["content"] = (out["content"] or "") + delta.content
            for t in delta.tool_calls or []:
                call = calls.setdefault(t.index, {"id": None, "type": None, "name": "", "arguments": ""})
                call["id"] = call["id"] or t.id
                call["type"] = call["type"] or t.type
                if t.function is not None:
                    call["name"] += t.function.name or ""
                    call["arguments"] += t.function.arguments or ""
            if choice.finish_reason is not None:
                out["finish_reason"] = choice.finish_reason
    out["tool_calls"] = [calls[i] for i in sorted(calls)]
    return out


def helper(headers=None, **kwargs):
    """`client.chat.completions.stream(...)` and `get_final_completion()`."""
    with client.chat.completions.stream(
        model="gpt-4o-mini", stream_options={"include_usage": True}, extra_headers=headers, **kwargs
    ) as s:
        for _event in s:
            pass
        return from_completion(s.get_final_completion())


def ask(text):
    return [{"role": "user", "content": text}]


# Provider-like delay between `data: [DONE]` and the end of the body: the client closes at [DONE], first.
LATE_END = {"x-fake-end-delay-ms": os.environ.get("LATE_END_MS", "400")}

results = {}
results["plain"] = from_completion(client.chat.completions.create(model="gpt-4o-mini", messages=ask("plain words")))
results["plain_tools"] = from_completion(
    client.chat.completions.create(model="gpt-4o-mini", messages=ask("weather in Paris?"), tools=TOOLS)
)
results["stream"] = read_stream(
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=ask("streamed words to the end"),
        stream=True,
        stream_options={"include_usage": True},
    )
)
results["stream_tools"] = read_stream(
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=ask("weather, streamed"),
        tools=TOOLS,
        stream=True,
        stream_options={"include_usage": True},
    )
)
results["helper"] = helper(messages=ask("the stream helper"))
results["helper_tools"] = helper(messages=ask("weather by the helper"), tools=TOOLS)
results["late_end_stream"] = read_stream(
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=ask("done before the end of body"),
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=LATE_END,
    )
)
results["late_end_helper"] = helper(headers=LATE_END, messages=ask("the helper, done before the end"))
results["late_end_tools"] = read_stream(
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=ask("weather, done before the end"),
        tools=TOOLS,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=LATE_END,
    )
)

json.dump({"openai_version": openai.__version__, "results": results}, sys.stdout)
sys.stdout.write("\n")
