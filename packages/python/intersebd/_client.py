"""The client: a bounded queue of encoded events and a daemon thread that sends them in batches."""

from __future__ import annotations

import atexit
import json
import logging
import math
import os
import random
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections import deque
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

from . import _events
from ._errors import IntersebdError
from ._experiments import Assignment, Experiments

__all__ = ["DEFAULT_URL", "Intersebd"]

__version__ = "0.1.0"

DEFAULT_URL = "http://127.0.0.1:8787"
MAX_SERVER_BATCH = 10_000  # the server refuses larger batches with a 413

_PATHS = {"link": "/api/links", "annotation": "/api/annotations", "notification": "/api/notifications"}
_log = logging.getLogger("intersebd")

# One queued event: (sequence number, kind, JSON text, monotonic time it was queued).
_Event = Tuple[int, str, str, float]


def env_enabled(value: Optional[str]) -> bool:
    """``INTERSEBD_ENABLED``: "0", "false", "no" and "off" (any case) disable; anything else, or unset, enables."""
    if value is None:
        return True
    return value.strip().lower() not in ("0", "false", "no", "off")


def _default_on_error(err: IntersebdError) -> None:
    _log.warning("intersebd: %s", err)


def _retry_after_seconds(value: Optional[str]) -> Optional[float]:
    """Parses a ``retry-after`` header: seconds, or an HTTP date. None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _error_of(text: str) -> Tuple[str, Optional[str], Optional[str]]:
    """(message, field, code) of the server's ``{"error": {...}}`` body, or the raw text."""
    try:
        err = json.loads(text)["error"]
        return str(err.get("message") or text), err.get("field"), err.get("code")
    except Exception:
        return (text.strip()[:500] or "(empty body)"), None, None


def _batch_index(field: Optional[str]) -> Optional[int]:
    """The item a batch error names: ``[3].upstreamTag`` -> 3."""
    if not field or not field.startswith("["):
        return None
    end = field.find("]")
    try:
        return int(field[1:end])
    except ValueError:
        return None


def _parsed(payloads: List[str]) -> List[Any]:
    out = []
    for p in payloads:
        try:
            out.append(json.loads(p))
        except ValueError:
            out.append(p)
    return out


class Intersebd:
    """A client for the intersebd server: ``link``, ``annotate`` and ``notify`` queue an event and return None at
    once; a daemon thread sends the queue in batches (``POST /api/links``, ``/api/annotations``,
    ``/api/notifications``), retrying network errors, 5xx, 408 and 429 with exponential backoff and jitter.

    Nothing here raises into the caller: invalid input, refused or undeliverable events and drops are reported
    to ``on_error`` (default: a warning on the ``intersebd`` logger) and counted in ``stats()``.
    Events still queued when the interpreter exits are flushed by an ``atexit`` hook for at most
    ``exit_timeout`` seconds. Thread-safe; after ``os.fork()`` the child starts with an empty queue.

    Args:
        base_url: the intersebd server, without ``/api`` or ``/v1``. Default ``INTERSEBD_URL``, else
            ``http://127.0.0.1:8787``.
        api_key: sent as ``x-intersebd-key`` when set. Default ``INTERSEBD_API_KEY``.
        enabled: when False, every method returns at once and does no work. Default: ``INTERSEBD_ENABLED``
            unless it is "0", "false", "no" or "off". Can be changed later through the ``enabled`` attribute.
        on_error: called with an :class:`IntersebdError` for every failure; called on the caller's thread for
            invalid input and on the sender thread otherwise. Exceptions it raises are ignored.
        flush_interval: longest time in seconds an event waits before a batch is sent. Default 1.0.
        max_batch_size: most events in one request; a full batch is sent without waiting. Default 250.
        max_queue_size: most events held in memory; beyond it the oldest are dropped and counted. Default 10,000.
        max_retries: retries of one batch after its first attempt. Default 8.
        timeout: seconds to wait for one HTTP answer. Default 10.
        retry_backoff: first retry delay in seconds, doubled on each retry (with jitter). Default 0.5.
        max_backoff: longest delay between two retries, in seconds. Default 30.
        exit_timeout: longest time the ``atexit`` hook (and ``shutdown()`` without a timeout) waits for the queue
            to drain, in seconds. Default 5.
        experiments_refresh_interval: how often the definitions of experiments ``variant()`` was asked about are
            fetched again, in seconds. Default 30.

    Example::

        client = Intersebd(base_url="http://127.0.0.1:8787", on_error=print)
        client.link(upstream_tag=completion.id, downstream_tag=reply.id)
        client.annotate(annotation_key=reply.id, numeric_reward=1)
        client.flush(timeout=5)
    """

    def __init__(
        self,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        enabled: Optional[bool] = None,
        on_error: Optional[Callable[[IntersebdError], Any]] = None,
        flush_interval: float = 1.0,
        max_batch_size: int = 250,
        max_queue_size: int = 10_000,
        max_retries: int = 8,
        *,
        timeout: float = 10.0,
        retry_backoff: float = 0.5,
        max_backoff: float = 30.0,
        exit_timeout: float = 5.0,
        experiments_refresh_interval: float = 30.0,
    ) -> None:
        self._on_error = on_error if callable(on_error) else _default_on_error
        if on_error is not None and not callable(on_error):
            self._report(IntersebdError("on_error must be callable; using the default", code="invalid_option"))
        if base_url is None:
            base_url = os.environ.get("INTERSEBD_URL") or DEFAULT_URL
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            self._report(
                IntersebdError(
                    "base_url must be an http(s) URL, got %r; using %s" % (base_url, DEFAULT_URL),
                    code="invalid_option",
                    field="base_url",
                )
            )
            base_url = DEFAULT_URL
        self.base_url: str = base_url.rstrip("/")
        """The server's base URL, without a trailing slash."""
        if api_key is None:
            api_key = os.environ.get("INTERSEBD_API_KEY") or None
        if api_key is not None and not isinstance(api_key, str):
            self._report(IntersebdError("api_key must be a string; ignored", code="invalid_option", field="api_key"))
            api_key = None
        self._headers = {"content-type": "application/json", "user-agent": "intersebd-python/" + __version__}
        if api_key:
            self._headers["x-intersebd-key"] = api_key
        self._enabled = env_enabled(os.environ.get("INTERSEBD_ENABLED")) if enabled is None else bool(enabled)
        self._flush_interval = self._option("flush_interval", flush_interval, 1.0, 0.0, 3600.0)
        self._max_batch = int(self._option("max_batch_size", max_batch_size, 250, 1, MAX_SERVER_BATCH, True))
        self._max_queue = int(self._option("max_queue_size", max_queue_size, 10_000, 1, 10**9, True))
        self._max_retries = int(self._option("max_retries", max_retries, 8, 0, 1000, True))
        self._timeout = self._option("timeout", timeout, 10.0, 0.001, 3600.0)
        self._retry_backoff = self._option("retry_backoff", retry_backoff, 0.5, 0.0, 3600.0)
        self._max_backoff = self._option("max_backoff", max_backoff, 30.0, 0.0, 3600.0)
        self._exit_timeout = self._option("exit_timeout", exit_timeout, 5.0, 0.0, 3600.0)
        # Requests carry at most this much JSON text; a 413 splits a batch further.
        self._max_batch_chars = 4 * 1024 * 1024
        self._opener = urllib.request.build_opener()
        self._sent = 0
        self._dropped = 0
        self._failed = 0
        self.experiments = Experiments(
            self.base_url,
            self._headers,
            lambda: self._enabled,
            self._report,
            self._option("experiments_refresh_interval", experiments_refresh_interval, 30.0, 0.01, 86400.0),
            self._timeout,
        )
        """The experiments ``variant()`` assigns from: ``ready(name, timeout)`` waits for a first fetch,
        ``refresh(name)`` fetches now."""
        self._init_state()
        _all_clients.add(self)

    def _init_state(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._queue: Deque[_Event] = deque()
        self._next_seq = 0
        self._flush_upto = 0  # the worker sends without waiting while events below this are queued
        self._inflight_min: Optional[int] = None
        self._inflight_count = 0
        self._thread: Optional[threading.Thread] = None
        self._stopping = False
        self._closed = False
        self._dropping = False
        self._abandon = threading.Event()

    def _option(self, name: str, value: Any, default: float, lo: float, hi: float, integer: bool = False) -> float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok:
            ok = math.isfinite(value) and lo <= value <= hi and (not integer or value == int(value))
        if ok:
            return value
        self._report(
            IntersebdError(
                "%s must be a %s from %s to %s, got %r; using %s"
                % (name, "whole number" if integer else "number", lo, hi, value, default),
                code="invalid_option",
                field=name,
            )
        )
        return default

    # -- the public verbs ----------------------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        """When False, ``link``, ``annotate`` and ``notify`` return at once and do no work. Settable."""
        return self._enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self._enabled = bool(value)

    def link(
        self,
        upstream_tag: Any = None,
        downstream_tag: Any = None,
        metadata: Optional[Dict[str, Any]] = None,
        **unexpected: Any,
    ) -> None:
        """Adds an edge ``upstream_tag -> downstream_tag`` to the tag graph: the downstream tag now leads back to
        every call the upstream one leads back to. Queues the link and returns None at once.

        Args:
            upstream_tag: a completion id, a call id, or any tag (str; an int or UUID is sent as its text).
            downstream_tag: the tag that now leads back to it, e.g. your own object's id.
            metadata: an optional dict (JSON object) stored on the link.

        Example::

            intersebd.link(upstream_tag=completion.id, downstream_tag=reply.id, metadata={"step": "save"})
        """
        if not self._enabled:
            return None
        try:
            if unexpected:
                raise _events._Invalid(next(iter(unexpected)), _unexpected_message("link", unexpected))
            payload = _events.link_event(upstream_tag, downstream_tag, metadata)
        except Exception as exc:
            self._refuse("link", exc)
            return None
        self._enqueue("link", payload)
        return None

    def annotate(
        self,
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
        annotation and returns None at once.

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
        if not self._enabled:
            return None
        try:
            if unexpected:
                raise _events._Invalid(next(iter(unexpected)), _unexpected_message("annotate", unexpected))
            payload = _events.annotation_event(
                annotation_key, numeric_reward, name, content, data, comment, correction, source, annotator_id, id
            )
        except Exception as exc:
            self._refuse("annotation", exc)
            return None
        self._enqueue("annotation", payload)
        return None

    def notify(
        self,
        completion_id: Any = None,
        send_notification_to: Any = None,
        message: Optional[str] = None,
        rubric: Optional[str] = None,
        metadata: Optional[Dict[str, Any]] = None,
        expires_in_seconds: Optional[int] = None,
        **unexpected: Any,
    ) -> None:
        """Asks a named person to judge a call: a task in their inbox (and a signed webhook) with a link that
        opens exactly that call. Queues the notification and returns None at once.

        Args:
            completion_id: the call to judge: its completion id, its call id, or any tag of it.
            send_notification_to: who should judge it (a user id, an email: whatever your webhook understands).
            message: text shown with the task.
            rubric: the name of a feedback form defined on the server.
            metadata: an optional dict stored with the notification.
            expires_in_seconds: how long the signed link stays valid (the server's default when None).

        Example::

            intersebd.notify(completion_id=completion.id, send_notification_to=user.id, message="Good title?")
        """
        if not self._enabled:
            return None
        try:
            if unexpected:
                raise _events._Invalid(next(iter(unexpected)), _unexpected_message("notify", unexpected))
            payload = _events.notification_event(
                completion_id, send_notification_to, message, rubric, metadata, expires_in_seconds
            )
        except Exception as exc:
            self._refuse("notification", exc)
            return None
        self._enqueue("notification", payload)
        return None

    def variant(
        self,
        name: str,
        user_id: Optional[str] = None,
        session_id: Optional[str] = None,
        unit: Optional[str] = None,
    ) -> Assignment:
        """The variant of experiment ``name`` for a user, a session or an id of yours: the same one the server's
        proxy picks, computed here with no network call. The definition is fetched in the background on first use
        and refreshed every 30 s; until it is known (and when ``enabled`` is False) the answer is the control with
        ``variant=None``. Send ``headers`` with the call so it is recorded under this variant. Never raises.

        Args:
            name: the experiment.
            user_id: the user, for a per-user experiment.
            session_id: the session, for a per-session experiment.
            unit: an id of yours, used when the id the experiment's unit needs is not given.

        Example::

            a = intersebd.variant("titles", user_id=user.id)
            system = a.overrides.get("systemPrompt", SYSTEM)
            client.chat.completions.create(model="gpt-4o-mini", messages=m, extra_headers=a.headers)
        """
        return self.experiments.variant(name, user_id, session_id, unit)

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Sends everything queued so far now, and waits until it is delivered or given up on.

        Args:
            timeout: seconds to wait at most; None waits until done (retries included).

        Returns:
            True when every event queued before the call reached an end (sent, dropped or failed: see
            ``stats()``), False when the timeout came first (the events stay queued) or when called from
            ``on_error`` on the sender thread.

        Example::

            intersebd.annotate(annotation_key=reply_id, numeric_reward=0)
            intersebd.flush(timeout=5)
        """
        try:
            return self._flush(timeout)
        except Exception as exc:  # never into the caller
            self._report(IntersebdError("flush failed: %r" % (exc,), code="internal_error"))
            return False

    def shutdown(self, timeout: Optional[float] = None) -> bool:
        """Flushes (for at most ``timeout`` seconds, default ``exit_timeout``) and stops the sender thread.
        Events still queued after that are counted as failed; later calls to ``link``, ``annotate`` and
        ``notify`` are refused (``on_error`` code ``shut_down``). Returns what ``flush`` returned.

        Example::

            client = Intersebd()
            ...
            client.shutdown(timeout=2)
        """
        try:
            self.experiments.stop()
            ok = self._flush(self._exit_timeout if timeout is None else timeout)
            with self._cond:
                self._closed = True
                self._stopping = True
                leftover = list(self._queue)
                self._queue.clear()
                self._failed += len(leftover)
                self._cond.notify_all()
                thread = self._thread
            self._abandon.set()  # a batch waiting to retry gives up now
            by_kind: Dict[str, List[str]] = {}
            for _seq, kind, payload, _t in leftover:
                by_kind.setdefault(kind, []).append(payload)
            for kind, payloads in by_kind.items():
                self._report_events(
                    kind,
                    payloads,
                    "%d %s event(s) still queued at shutdown were not sent" % (len(payloads), kind),
                    code="shut_down",
                )
            if thread is not None and thread is not threading.current_thread():
                thread.join(0.5)
            _live_clients.discard(self)
            return ok
        except Exception as exc:
            self._report(IntersebdError("shutdown failed: %r" % (exc,), code="internal_error"))
            return False

    def stats(self) -> Dict[str, int]:
        """Counters since the client was created. Every accepted event ends in exactly one of ``sent``,
        ``dropped`` or ``failed``; until then it is ``queued`` (waiting or in a request not yet answered).
        Invalid input counts as ``failed``.

        Returns:
            ``{"queued": int, "sent": int, "dropped": int, "failed": int}``

        Example::

            s = intersebd.stats()
            print(s["queued"], s["sent"], s["dropped"], s["failed"])
        """
        with self._lock:
            return {
                "queued": len(self._queue) + self._inflight_count,
                "sent": self._sent,
                "dropped": self._dropped,
                "failed": self._failed,
            }

    # -- queue ---------------------------------------------------------------------------------------------

    def _enqueue(self, kind: str, payload: str) -> None:
        report: Optional[IntersebdError] = None
        with self._cond:
            if self._closed:
                self._failed += 1
                report = IntersebdError(
                    "%s refused: the client was shut down" % kind,
                    code="shut_down",
                    kind=kind,
                    events=_parsed([payload]),
                )
            else:
                q = self._queue
                if len(q) >= self._max_queue:
                    q.popleft()
                    self._dropped += 1
                    if not self._dropping:  # report once per episode, not once per event
                        self._dropping = True
                        report = IntersebdError(
                            "queue full (max_queue_size=%d): dropping the oldest events; see stats()['dropped']"
                            % self._max_queue,
                            code="queue_full",
                            count=1,
                        )
                q.append((self._next_seq, kind, payload, time.monotonic()))
                self._next_seq += 1
                if len(q) == 1 or len(q) >= self._max_batch:
                    self._cond.notify()
                if self._thread is None:
                    self._start_thread()
        if report is not None:
            self._report(report)

    def _start_thread(self) -> None:
        """Starts the sender (lock held). At interpreter shutdown no thread can start; flush then sends inline."""
        t = threading.Thread(target=self._run, name="intersebd-sender", daemon=True)
        try:
            t.start()
        except RuntimeError:
            return
        self._thread = t
        _live_clients.add(self)

    def _lowest_pending(self) -> int:
        """Sequence number of the oldest event not yet sent, dropped or failed (lock held)."""
        if self._inflight_min is not None:
            return self._inflight_min
        if self._queue:
            return self._queue[0][0]
        return self._next_seq

    def _take(self) -> List[_Event]:
        """Pops the next batch (lock held, queue not empty): up to max_batch_size events and ~4 MiB of JSON."""
        q = self._queue
        batch = [q.popleft()]
        chars = len(batch[0][2])
        while q and len(batch) < self._max_batch and chars + len(q[0][2]) <= self._max_batch_chars:
            e = q.popleft()
            chars += len(e[2])
            batch.append(e)
        self._inflight_min = batch[0][0]
        self._inflight_count = len(batch)
        return batch

    def _done(self) -> None:
        with self._cond:
            self._inflight_min = None
            self._inflight_count = 0
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    q = self._queue
                    if q:
                        if self._stopping or len(q) >= self._max_batch or self._flush_upto > q[0][0]:
                            break
                        wait = q[0][3] + self._flush_interval - time.monotonic()
                        if wait <= 0:
                            break
                        self._cond.wait(wait)
                    elif self._stopping:
                        if self._thread is threading.current_thread():
                            self._thread = None
                        _live_clients.discard(self)
                        return
                    else:
                        self._cond.wait()
                batch = self._take()
            try:
                self._send(batch)
            except Exception as exc:  # a bug here must neither lose the count nor kill the sender
                self._report(IntersebdError("sender error: %r" % (exc,), code="internal_error"))
            finally:
                self._done()

    def _flush(self, timeout: Optional[float]) -> bool:
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        with self._cond:
            target = self._next_seq
            if self._lowest_pending() >= target:
                return True
            if self._thread is not None and self._thread is threading.current_thread():
                return False  # on_error called flush on the sender thread: waiting on ourselves would hang
            if self._flush_upto < target:
                self._flush_upto = target
            self._cond.notify_all()
            if self._thread is None or not self._thread.is_alive():
                self._thread = None
                if not self._closed:
                    self._start_thread()
            inline = self._thread is None
        if inline:
            return self._drain_inline(target, deadline)
        with self._cond:
            while self._lowest_pending() < target:
                if deadline is None:
                    self._cond.wait()
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._cond.wait(remaining)
        return True

    def _drain_inline(self, target: int, deadline: Optional[float]) -> bool:
        """Sends on the caller's thread, for when no thread can be started (interpreter shutdown)."""
        while True:
            with self._cond:
                if self._lowest_pending() >= target:
                    return True
                if self._inflight_min is not None or not self._queue:
                    return False
                batch = self._take()
            try:
                self._send(batch, deadline)
            except Exception as exc:
                self._report(IntersebdError("sender error: %r" % (exc,), code="internal_error"))
            finally:
                self._done()
            if deadline is not None and time.monotonic() >= deadline:
                with self._cond:
                    return self._lowest_pending() >= target

    # -- sending -------------------------------------------------------------------------------------------

    def _send(self, batch: List[_Event], deadline: Optional[float] = None) -> None:
        """Delivers a batch, one request per kind. Every event ends counted as sent or failed, even on a bug."""
        by_kind: Dict[str, List[str]] = {}
        for _seq, kind, payload, _t in batch:
            by_kind.setdefault(kind, []).append(payload)
        for kind, payloads in by_kind.items():
            before = self._settled()
            try:
                self._deliver(kind, payloads, deadline)
            except Exception:
                with self._lock:
                    self._failed += max(0, len(payloads) - (self._settled() - before))
                raise

    def _settled(self) -> int:
        return self._sent + self._failed

    def _deliver(self, kind: str, payloads: List[str], deadline: Optional[float] = None) -> None:
        path = _PATHS[kind]
        work = [payloads]
        while work:
            chunk = work.pop()
            attempt = 0
            while chunk:
                body = ("[" + ",".join(chunk) + "]").encode("utf-8")
                retry_after: Optional[float] = None
                try:
                    status, headers, text = self._post(path, body)
                except Exception as exc:
                    error = IntersebdError(
                        "POST %s%s failed: %s" % (self.base_url, path, exc),
                        code="network_error",
                        kind=kind,
                        count=len(chunk),
                    )
                    error.__cause__ = exc
                else:
                    if 200 <= status < 300:
                        with self._lock:
                            self._sent += len(chunk)
                            self._dropping = False
                        break
                    message, field, code = _error_of(text)
                    if status == 413 and len(chunk) > 1:
                        mid = len(chunk) // 2
                        work.append(chunk[mid:])
                        work.append(chunk[:mid])
                        break
                    index = _batch_index(field) if status == 400 else None
                    if index is not None and 0 <= index < len(chunk) and len(chunk) > 1:
                        # One bad item refuses the whole batch: give up on that one and resend the others.
                        self._give_up(
                            kind,
                            [chunk[index]],
                            "POST %s refused a %s: %s" % (path, kind, message),
                            code=code or "http_400",
                            status=status,
                            field=field,
                        )
                        chunk = chunk[:index] + chunk[index + 1 :]
                        continue
                    error = IntersebdError(
                        "POST %s answered %d: %s" % (path, status, message),
                        code=code or ("http_%d" % status),
                        status=status,
                        field=field,
                        kind=kind,
                        count=len(chunk),
                    )
                    if not (status >= 500 or status in (408, 429)):
                        self._give_up(kind, chunk, error.message, code=error.code, status=status, field=field)
                        break
                    retry_after = _retry_after_seconds(headers.get("retry-after"))
                if attempt >= self._max_retries:
                    self._give_up(
                        kind,
                        chunk,
                        "%s (gave up after %d attempt(s))" % (error.message, attempt + 1),
                        code=error.code,
                        status=error.status,
                        field=error.field,
                    )
                    break
                delay = self._backoff(attempt, retry_after)
                attempt += 1
                if deadline is not None and time.monotonic() + delay > deadline:
                    self._give_up(
                        kind,
                        chunk,
                        "%s (no time left to retry)" % error.message,
                        code=error.code,
                        status=error.status,
                        field=error.field,
                    )
                    break
                if self._abandon.wait(delay):
                    self._give_up(
                        kind,
                        chunk,
                        "%s (abandoned at shutdown)" % error.message,
                        code="shut_down",
                        status=error.status,
                    )
                    break

    def _backoff(self, attempt: int, retry_after: Optional[float]) -> float:
        """Exponential backoff with jitter (half fixed, half random); a server's retry-after is a floor."""
        cap = min(self._max_backoff, self._retry_backoff * (2**attempt))
        delay = cap / 2 + random.uniform(0, cap / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, max(self._max_backoff, 60.0)))
        return delay

    def _post(self, path: str, body: bytes) -> Tuple[int, Any, str]:
        """One HTTP request: (status, headers, text). Raises on network errors only."""
        req = urllib.request.Request(self.base_url + path, data=body, headers=self._headers, method="POST")
        try:
            with self._opener.open(req, timeout=self._timeout) as resp:
                return resp.status, resp.headers, resp.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            try:
                text = exc.read().decode("utf-8", "replace")
            except Exception:
                text = ""
            finally:
                exc.close()
            return exc.code, exc.headers, text

    # -- errors --------------------------------------------------------------------------------------------

    def _give_up(self, kind: str, payloads: List[str], message: str, **fields: Any) -> None:
        with self._lock:
            self._failed += len(payloads)
        self._report_events(kind, payloads, message, **fields)

    def _report_events(self, kind: str, payloads: List[str], message: str, **fields: Any) -> None:
        self._report(IntersebdError(message, kind=kind, count=len(payloads), events=_parsed(payloads), **fields))

    def _refuse(self, kind: str, exc: Exception) -> None:
        with self._lock:
            self._failed += 1
        if isinstance(exc, _events._Invalid):
            err = IntersebdError("%s refused: %s" % (kind, exc), code="invalid_input", field=exc.field, kind=kind)
        else:
            err = IntersebdError("%s refused: %r" % (kind, exc), code="invalid_input", kind=kind)
        err.count = 1
        self._report(err)

    def _report(self, err: IntersebdError) -> None:
        try:
            self._on_error(err)
        except Exception:
            pass

    def _retire(self) -> None:
        """Stops accepting events; the sender sends what is queued at once, then exits."""
        self.experiments.stop()
        with self._cond:
            self._closed = True
            self._stopping = True
            self._cond.notify_all()

    def _after_fork(self) -> None:
        """In a forked child: the parent's events are the parent's to send; start clean."""
        self._init_state()
        definitions = dict(self.experiments._entries)
        self.experiments._init_state()
        for name, entry in definitions.items():  # known definitions stay usable; the child refetches them
            self.experiments._entry_locked(name).definition = entry.definition


def _unexpected_message(verb: str, unexpected: Dict[str, Any]) -> str:
    names = ", ".join(sorted(unexpected))
    return "%s() got unexpected keyword argument(s) %s (Python uses snake_case: upstream_tag, numeric_reward...)" % (
        verb,
        names,
    )


# Clients whose sender thread started: flushed at interpreter exit.
_live_clients: "set[Intersebd]" = set()
# Every client, for reinitialising locks and queues in a forked child.
_all_clients: "weakref.WeakSet[Intersebd]" = weakref.WeakSet()


def _flush_all_at_exit() -> None:
    """atexit hook: gives every client with queued events up to its ``exit_timeout`` (shared deadline)."""
    clients = list(_live_clients)
    if not clients:
        return
    deadline = time.monotonic() + max(c._exit_timeout for c in clients)
    for c in clients:
        remaining = min(c._exit_timeout, deadline - time.monotonic())
        try:
            c.flush(max(0.0, remaining))
        except Exception:
            pass
        c._abandon.set()


def _after_fork_in_child() -> None:
    _live_clients.clear()
    for c in list(_all_clients):
        c._after_fork()


atexit.register(_flush_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
