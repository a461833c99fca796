"""The one error type the SDK hands to ``on_error``. The SDK never raises it into the host application."""

from __future__ import annotations

from typing import Any, List, Optional


class IntersebdError(Exception):
    """A failure to accept or deliver events, given to the ``on_error`` hook (never raised at the caller).

    Attributes:
        code: what went wrong, as a stable string:
            ``invalid_input`` (the SDK refused an event before queueing it: a missing tag, a non-finite reward,
            a value ``json`` cannot write, an unknown keyword), ``queue_full`` (the queue reached
            ``max_queue_size`` and dropped its oldest events), ``shut_down`` (an event arrived after
            ``shutdown()``, or was still queued when ``shutdown()`` gave up), ``network_error`` (the server could
            not be reached, after every retry), ``invalid_option`` (a bad constructor option, replaced by its
            default), or the ``error.code`` of the server's 4xx/5xx answer (``invalid_request``,
            ``unauthorized``...), ``http_<status>`` when the answer carried none.
        status: the HTTP status of the server's answer, when there was one.
        field: the offending field as the server or the SDK names it (``numeric_reward``, ``[3].upstreamTag``).
        kind: ``"link"``, ``"annotation"`` or ``"notification"``, when the error concerns events.
        count: how many events this error gave up on.
        events: the events given up on (JSON bodies as dicts), when the SDK still had them.

    Example::

        def report(err: intersebd.IntersebdError) -> None:
            print(f"{err.kind} x{err.count}: {err.code} {err} ({err.field})")

        client = intersebd.Intersebd(on_error=report)
    """

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status: Optional[int] = None,
        field: Optional[str] = None,
        kind: Optional[str] = None,
        count: Optional[int] = None,
        events: Optional[List[Any]] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.field = field
        self.kind = kind
        self.events = list(events) if events is not None else []
        self.count = count if count is not None else len(self.events)

    def __repr__(self) -> str:
        return "IntersebdError(%r, code=%r, status=%r, field=%r, kind=%r, count=%r)" % (
            self.message,
            self.code,
            self.status,
            self.field,
            self.kind,
            self.count,
        )
