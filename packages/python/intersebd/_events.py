"""Validation and encoding of events, mirroring the server's schemas (packages/server/src/graph/schemas.ts).

Each builder checks its arguments cheaply and returns the event's JSON text, encoded once on the caller's
thread: the event is a snapshot (later changes to a ``metadata`` dict do not leak into it), a value ``json``
cannot write is refused at the call that passed it, and one bad event never makes the server refuse a whole
batch. Invalid input raises ``_Invalid``, which the client turns into an ``on_error`` report.
"""

from __future__ import annotations

import decimal
import json
import math
import numbers
import os
import uuid
from typing import Any, Dict, Optional

MAX_TAG_LENGTH = 1000
"""Longest tag the server accepts, in characters (after trimming)."""
MAX_JSON_BYTES = 256 * 1024
"""Largest JSON value (metadata, data, content) the server accepts in one field, serialised."""
SOURCES = ("code", "human", "user", "judge")

_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


class _Invalid(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _tag(value: Any, field: str) -> str:
    if type(value) is str and 0 < len(value) <= MAX_TAG_LENGTH and not value[0].isspace() and not value[-1].isspace():
        return value  # the common case, without copying
    if isinstance(value, str):
        s = value.strip()
    elif isinstance(value, (int, uuid.UUID)) and not isinstance(value, bool):
        # Python services often have integer or UUID primary keys; a tag is their text.
        s = str(value)
    elif value is None:
        raise _Invalid(field, "%s is required" % field)
    else:
        raise _Invalid(field, "%s must be a string (got %s)" % (field, type(value).__name__))
    if not s:
        raise _Invalid(field, "%s must not be empty" % field)
    if len(s) > MAX_TAG_LENGTH:
        raise _Invalid(field, "%s is longer than %d characters" % (field, MAX_TAG_LENGTH))
    return s


def _text(value: Any, field: str, max_len: int, min_len: int = 0, ids: bool = False) -> Optional[str]:
    if value is None:
        return None
    if ids and isinstance(value, (int, uuid.UUID)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise _Invalid(field, "%s must be a string (got %s)" % (field, type(value).__name__))
    if len(value) < min_len:
        raise _Invalid(field, "%s must not be empty" % field)
    if len(value) > max_len:
        raise _Invalid(field, "%s is longer than %d characters" % (field, max_len))
    return value


def _object(value: Any, field: str) -> Optional[Dict[str, Any]]:
    if value is None:
        return None
    if not isinstance(value, dict):
        try:
            value = dict(value)  # any Mapping
        except Exception:
            raise _Invalid(field, "%s must be a dict (a JSON object), got %s" % (field, type(value).__name__)) from None
    return value


def _reward(value: Any) -> Any:
    t = type(value)
    if t is int or value is None:
        return value
    if t is float:
        if value - value != 0.0:  # NaN or an infinity
            raise _Invalid("numeric_reward", "numeric_reward must be a finite number (got %r)" % (value,))
        return value
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, decimal.Decimal)):
        raise _Invalid("numeric_reward", "numeric_reward must be a finite number (got %s)" % type(value).__name__)
    if isinstance(value, int):
        return value
    f = float(value)
    if not math.isfinite(f):
        raise _Invalid("numeric_reward", "numeric_reward must be a finite number (got %r)" % (value,))
    return f


def _correction(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        if not value:
            raise _Invalid("correction", "correction must not be empty")
        return value
    if isinstance(value, dict):
        role = value.get("role", "assistant")
        if role != "assistant":
            raise _Invalid("correction", 'correction["role"] must be "assistant"')
        content = value.get("content")
        if content is not None and not isinstance(content, str):
            raise _Invalid("correction", 'correction["content"] must be a string or None')
        tool_calls = value.get("tool_calls")
        if tool_calls is not None and not isinstance(tool_calls, (list, tuple)):
            raise _Invalid("correction", 'correction["tool_calls"] must be a list')
        return value
    raise _Invalid(
        "correction",
        "correction must be the assistant message (a dict) or its text (got %s)" % type(value).__name__,
    )


def _uuid4() -> str:
    """A random (version 4) UUID as text; ``str(uuid.uuid4())`` at less than half the cost."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


def _encode(body: Dict[str, Any], json_fields: Dict[str, str]) -> str:
    """Encodes one event; ``json_fields`` maps body keys holding user JSON to the argument names they came from."""
    try:
        text = _encoder.encode(body)
    except (TypeError, ValueError, RecursionError) as exc:
        field = next(iter(json_fields.values()), "event")
        for key, name in json_fields.items():
            try:
                _encoder.encode(body[key])
            except (TypeError, ValueError, RecursionError):
                field = name
                break
        raise _Invalid(field, "%s cannot be written as JSON: %s" % (field, exc)) from None
    if len(text) > MAX_JSON_BYTES:
        # Only now is it worth measuring the fields one by one.
        for key, name in json_fields.items():
            if len(_encoder.encode(body[key])) > MAX_JSON_BYTES:
                raise _Invalid(name, "%s is larger than %d bytes as JSON" % (name, MAX_JSON_BYTES))
    return text


def link_event(upstream_tag: Any, downstream_tag: Any, metadata: Any) -> str:
    body: Dict[str, Any] = {
        "upstreamTag": _tag(upstream_tag, "upstream_tag"),
        "downstreamTag": _tag(downstream_tag, "downstream_tag"),
    }
    json_fields = {}
    meta = _object(metadata, "metadata")
    if meta is not None:
        body["metadata"] = meta
        json_fields["metadata"] = "metadata"
    return _encode(body, json_fields)


def annotation_event(
    annotation_key: Any,
    numeric_reward: Any,
    name: Any,
    content: Any,
    data: Any,
    comment: Any,
    correction: Any,
    source: Any,
    annotator_id: Any,
    id: Any,
) -> str:
    body: Dict[str, Any] = {
        "id": _uuid4() if id is None else _text(id, "id", 200, 1, ids=True),
        "annotationKey": _tag(annotation_key, "annotation_key"),
    }
    if name is None or name == "reward":
        name = "reward"
    elif not isinstance(name, str) or not name.strip():
        raise _Invalid("name", "name must be a non-empty string")
    elif len(name.strip()) > 200:
        raise _Invalid("name", "name is longer than 200 characters")
    body["name"] = name
    reward = _reward(numeric_reward)
    if reward is not None:
        body["numericReward"] = reward
    json_fields = {}
    if content is not None:
        body["content"] = content
        json_fields["content"] = "content"
    if data is not None:
        body["data"] = data
        json_fields["data"] = "data"
    comment = _text(comment, "comment", 100_000)
    if comment is not None:
        body["comment"] = comment
    correction = _correction(correction)
    if correction is not None:
        body["correction"] = correction
        json_fields["correction"] = "correction"
    if source is None:
        source = "code"
    elif source not in SOURCES:
        raise _Invalid("source", "source must be one of %s (got %r)" % (", ".join(SOURCES), source))
    body["source"] = source
    annotator = _text(annotator_id, "annotator_id", 500, 1, ids=True)
    if annotator is not None:
        body["annotatorId"] = annotator
    return _encode(body, json_fields)


def notification_event(
    completion_id: Any,
    send_notification_to: Any,
    message: Any,
    rubric: Any,
    metadata: Any,
    expires_in_seconds: Any,
) -> str:
    recipient = _text(send_notification_to, "send_notification_to", 500, ids=True)
    if recipient is None or not recipient.strip():
        raise _Invalid("send_notification_to", "send_notification_to must be a non-empty string")
    body: Dict[str, Any] = {
        # A client id makes a retried request create one notification, not two.
        "id": _uuid4(),
        "completionId": _tag(completion_id, "completion_id"),
        "sendNotificationTo": recipient.strip(),
    }
    message = _text(message, "message", 10_000)
    if message is not None:
        body["message"] = message
    rubric = _text(rubric, "rubric", 200, 1)
    if rubric is not None:
        body["rubric"] = rubric
    json_fields = {}
    meta = _object(metadata, "metadata")
    if meta is not None:
        body["metadata"] = meta
        json_fields["metadata"] = "metadata"
    if expires_in_seconds is not None:
        if (
            isinstance(expires_in_seconds, bool)
            or not isinstance(expires_in_seconds, int)
            or not 0 < expires_in_seconds <= 366 * 24 * 3600
        ):
            raise _Invalid("expires_in_seconds", "expires_in_seconds must be a whole number of seconds, 1 to 366 days")
        body["expiresInSeconds"] = expires_in_seconds
    return _encode(body, json_fields)
