"""intersebd: link, annotate and reward the LLM calls of your service (Python SDK, standard library only).

The module-level functions use a default client configured from the environment when first used:
``INTERSEBD_URL`` (default ``http://127.0.0.1:8787``), ``INTERSEBD_API_KEY``, ``INTERSEBD_ENABLED``
("0", "false", "no" or "off" disables).

    import intersebd

    intersebd.enabled = not IS_TEST_ENV
    intersebd.link(upstream_tag=completion.id, downstream_tag=reply.id)
    intersebd.annotate(annotation_key=reply.id, numeric_reward=1, data={"clicked": True})
    intersebd.notify(completion_id=completion.id, send_notification_to=user.id)

``link``, ``annotate`` and ``notify`` queue the event and return None at once; a daemon thread sends batches.
They never raise: failures go to ``on_error`` (default: a warning on the ``intersebd`` logger).

``intersebd.enabled`` is a real module attribute backed by a property (the module's class is a
``types.ModuleType`` subclass): reading it reads the default client's ``enabled``, setting it sets it, so
``intersebd.enabled = False`` takes effect at once for every later call, from any thread.
"""

from __future__ import annotations

import inspect
import os
import sys
import threading
import types
from typing import Any, Dict, Optional

from ._client import DEFAULT_URL, Intersebd, __version__
from ._errors import IntersebdError
from ._experiments import Assignment, Experiments

__all__ = [
    "DEFAULT_URL",
    "Assignment",
    "Experiments",
    "Intersebd",
    "IntersebdError",
    "annotate",
    "configure",
    "enabled",
    "flush",
    "get_client",
    "link",
    "notify",
    "shutdown",
    "stats",
    "variant",
    "__version__",
]

_default_client: Optional[Intersebd] = None
_default_lock = threading.Lock()


def get_client() -> Intersebd:
    """The default client behind the module-level functions, created from the environment on first use.

    Example::

        print(intersebd.get_client().base_url)
    """
    global _default_client
    client = _default_client
    if client is None:
        with _default_lock:
            if _default_client is None:
                _default_client = Intersebd()
            client = _default_client
    return client


def configure(**options: Any) -> Intersebd:
    """Replaces the default client with ``Intersebd(**options)`` (options not given still come from the
    environment) and returns it. The previous default client sends what it still holds, then stops.
    Never raises: a bad option is reported to ``on_error`` and replaced by its default.

    Example::

        intersebd.configure(base_url="http://intersebd.internal:8787", api_key=KEY, on_error=log_it)
    """
    global _default_client
    previous = _default_client
    if previous is not None and "enabled" not in options:
        options["enabled"] = previous.enabled  # `intersebd.enabled = False` survives reconfiguration
    try:
        new = Intersebd(**options)
    except TypeError as exc:  # an unknown option name
        on_error = options.get("on_error")
        new = Intersebd(**{k: v for k, v in options.items() if k in _OPTION_NAMES})
        err = IntersebdError("configure(): %s" % exc, code="invalid_option")
        try:
            (on_error if callable(on_error) else new._report)(err)
        except Exception:
            pass
    with _default_lock:
        old, _default_client = _default_client, new
    if old is not None:
        old._retire()
    return new


_OPTION_NAMES = frozenset(inspect.signature(Intersebd).parameters)


def link(
    upstream_tag: Any = None,
    downstream_tag: Any = None,
    metadata: Optional[Dict[str, Any]] = None,
    **unexpected: Any,
) -> None:
    """Adds an edge ``upstream_tag -> downstream_tag`` to the tag graph: the downstream tag now leads back to
    every call the upstream one leads back to. Queues the link and returns None at once; never raises.

    Args:
        upstream_tag: a completion id, a call id, or any tag (str; an int or UUID is sent as its text).
        downstream_tag: the tag that now leads back to it, e.g. your own object's id.
        metadata: an optional dict (JSON object) stored on the link.

    Example::

        intersebd.link(upstream_tag=completion.id, downstream_tag=reply.id, metadata={"step": "save"})
    """
    return get_client().link(upstream_tag, downstream_tag, metadata, **unexpected)


def annotate(
    annotation_key: Any = None,
    numeric_reward: Optional[float] = None,
    name: str = "reward",
    content: Any = None,
    data: Any = None,
    comment: Optional[str] = None,
    correction: Any = None,
    source: str = "code",
    annotator_id: Optional[str] = None,
    id: Optional[str] = None,
    **unexpected: Any,
) -> None:
    """Records a judgement on a tag; it resolves through links to every call upstream of the tag. Queues the
    annotation and returns None at once; never raises.

    Args:
        annotation_key: the tag judged: a completion id, a call id or your own id linked to them.
        numeric_reward: a finite number; by convention thumbs up is 1 and thumbs down 0.
        name: what is judged; default ``"reward"``.
        content: any JSON value (the judgement itself, e.g. a label).
        data: any JSON value (context, e.g. ``{"clicked": True}``).
        comment: free text.
        correction: the assistant message the answer should have been: a dict or just its text.
        source: ``"code"`` (default), ``"human"``, ``"user"`` or ``"judge"``.
        annotator_id: who judged.
        id: client id making retries idempotent; a UUID4 is generated when absent.

    Example::

        intersebd.annotate(annotation_key=selection.id, numeric_reward=1, data={"clicked": True})
    """
    return get_client().annotate(
        annotation_key, numeric_reward, name, content, data, comment, correction, source, annotator_id, id, **unexpected
    )


def notify(
    completion_id: Any = None,
    send_notification_to: Any = None,
    message: Optional[str] = None,
    rubric: Optional[str] = None,
    metadata: Optional[Dict[str, Any]] = None,
    expires_in_seconds: Optional[int] = None,
    **unexpected: Any,
) -> None:
    """Asks a named person to judge a call: a task in their inbox (and a signed webhook) with a link that opens
    exactly that call. Queues the notification and returns None at once; never raises.

    Args:
        completion_id: the call to judge: its completion id, its call id, or any tag of it.
        send_notification_to: who should judge it (a user id, an email: whatever your webhook understands).
        message: text shown with the task.
        rubric: the name of a feedback form defined on the server.
        metadata: an optional dict stored with the notification.
        expires_in_seconds: how long the signed link stays valid (the server's default when None).

    Example::

        intersebd.notify(completion_id=completion.id, send_notification_to=user.id)
    """
    return get_client().notify(
        completion_id, send_notification_to, message, rubric, metadata, expires_in_seconds, **unexpected
    )


def variant(
    name: str,
    user_id: Optional[str] = None,
    session_id: Optional[str] = None,
    unit: Optional[str] = None,
) -> Assignment:
    """The variant of experiment ``name`` for a user (``user_id=``), a session (``session_id=``) or an id of yours
    (``unit=``), as the server's proxy picks it, with no network call; the control with ``variant=None`` until the
    definition has been fetched in the background, and when disabled. Never raises. See ``Intersebd.variant``.

    Example::

        a = intersebd.variant("titles", user_id=user.id)
        client.chat.completions.create(model="gpt-4o-mini", messages=m, extra_headers=a.headers)
    """
    return get_client().variant(name, user_id, session_id, unit)


def flush(timeout: Optional[float] = None) -> bool:
    """Sends everything the default client has queued, and waits until it is delivered or given up on (at most
    ``timeout`` seconds; None waits until done). Returns True when done, False on timeout. Short-lived scripts
    need not call it: queued events are flushed at interpreter exit (for at most 5 seconds).

    Example::

        intersebd.annotate(annotation_key=reply_id, numeric_reward=1)
        intersebd.flush(timeout=5)
    """
    return get_client().flush(timeout)


def shutdown(timeout: Optional[float] = None) -> bool:
    """Flushes the default client (at most ``timeout`` seconds, default 5) and stops its sender thread; later
    calls are refused until ``configure()`` makes a new default client. Returns what ``flush`` returned.

    Example::

        intersebd.shutdown(timeout=2)
    """
    return get_client().shutdown(timeout)


def stats() -> Dict[str, int]:
    """The default client's counters: ``{"queued", "sent", "dropped", "failed"}`` (see ``Intersebd.stats``).

    Example::

        assert intersebd.stats()["failed"] == 0
    """
    return get_client().stats()


class _Module(types.ModuleType):
    """Makes ``intersebd.enabled`` a property of the module, so that assigning it reaches the default client."""

    @property
    def enabled(self) -> bool:
        """When False, ``link``, ``annotate`` and ``notify`` return at once and do no work. Settable."""
        return get_client().enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        get_client().enabled = value

    @property
    def experiments(self) -> Experiments:
        """The default client's experiments cache: ``intersebd.experiments.ready("titles", timeout=2)``."""
        return get_client().experiments


def _reset_lock_in_child() -> None:
    global _default_lock
    _default_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_lock_in_child)

sys.modules[__name__].__class__ = _Module
