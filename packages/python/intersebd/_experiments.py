"""``variant()``: an experiment's variant for a unit, computed here exactly as the server's proxy computes it.

The kernel is the TypeScript one's (``intersebd/experiments``): a unit's bucket is
``fnv1a32(str(fnv1a32(experiment + ":" + salt + ":" + unit))) % 10000`` over UTF-8 bytes, and the definition's
allocation maps buckets to variants. Both SDKs' tests hold it to one table (``assignment-cases.json``).

Definitions (``GET /api/experiments/{name}``) are fetched by a daemon thread and kept; ``variant()`` never waits,
never touches the network and never raises.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from ._errors import IntersebdError

__all__ = ["Assignment", "BUCKETS", "Experiments", "assign", "assign_variant", "bucket_of", "fnv1a32"]

BUCKETS = 10_000
_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193
_STATUSES = ("draft", "shadow", "running", "stopped", "promoted")
_UNITS = ("userId", "sessionId", "request")


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (from JSON's "\ud800"): JavaScript's TextEncoder writes U+FFFD for it; so do we.
        return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text).encode("utf-8")


def fnv1a32(text: str) -> int:
    """32-bit FNV-1a over the string's UTF-8 bytes."""
    h = _FNV_OFFSET
    for byte in _utf8(text):
        h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return h


def bucket_of(experiment: str, salt: str, unit: str) -> int:
    """The unit's bucket in ``[0, 10000)`` for an experiment and salt."""
    return fnv1a32(str(fnv1a32("%s:%s:%s" % (experiment, salt, unit)))) % BUCKETS


def assign_variant(name: str, salt: str, allocation: List[Dict[str, Any]], unit: str) -> Optional[str]:
    """The variant whose bucket range ``[from, to)`` holds the unit's bucket, or None when none does."""
    b = bucket_of(name, salt, unit)
    for r in allocation:
        if r["from"] <= b < r["to"]:
            return r["variant"]
    return None


@dataclass(frozen=True)
class Assignment:
    """The answer of ``variant()``.

    Attributes:
        experiment: the experiment's name.
        variant: the variant's name; None while the definition is not known yet (or the SDK is disabled): use the
            control.
        control: True for the control, and whenever ``variant`` is None.
        overrides: what the variant changes: ``model``, ``systemPrompt``, ``params``, ``promptVersion``,
            ``messages`` (only those it sets).
        headers: for the call, so the proxy records it under this variant: ``x-intersebd-experiment``,
            ``x-intersebd-variant`` (only when known), the user or session id header. Empty when disabled.
        assignment_unit: the unit as the server records it (``userId:<id>``...), or None.

    Example::

        a = intersebd.variant("titles", user_id=user.id)
        client.chat.completions.create(model=a.overrides.get("model", "gpt-4o-mini"), messages=m,
                                       extra_headers=a.headers)
    """

    experiment: str
    variant: Optional[str]
    control: bool
    overrides: Dict[str, Any] = field(default_factory=dict)
    headers: Dict[str, str] = field(default_factory=dict)
    assignment_unit: Optional[str] = None


def _nonempty(v: Any) -> bool:
    return isinstance(v, str) and len(v) > 0


def read_definition(body: Any) -> Optional[Dict[str, Any]]:
    """The definition from the server's JSON, or None when it is not one."""
    if not isinstance(body, dict):
        return None
    if not (_nonempty(body.get("name")) and isinstance(body.get("salt"), str) and _nonempty(body.get("control"))):
        return None
    if body.get("status") not in _STATUSES or body.get("unit") not in _UNITS:
        return None
    variants, allocation = body.get("variants"), body.get("allocation")
    if not isinstance(variants, list) or not all(isinstance(v, dict) and _nonempty(v.get("name")) for v in variants):
        return None
    if not isinstance(allocation, list) or not all(
        isinstance(r, dict)
        and _nonempty(r.get("variant"))
        and isinstance(r.get("from"), int)
        and isinstance(r.get("to"), int)
        for r in allocation
    ):
        return None
    return body


def _unit_headers(user_id: Optional[str], session_id: Optional[str]) -> Dict[str, str]:
    h = {}
    if _nonempty(user_id):
        h["x-intersebd-user-id"] = user_id
    if _nonempty(session_id):
        h["x-intersebd-session-id"] = session_id
    return h


def _overrides(definition: Dict[str, Any], variant: str) -> Dict[str, Any]:
    for v in definition["variants"]:
        if v.get("name") == variant:
            return {k: v[k] for k in ("model", "systemPrompt", "params", "promptVersion", "messages") if k in v}
    return {}


def assign(
    definition: Dict[str, Any], user_id: Optional[str] = None, session_id: Optional[str] = None, unit: Optional[str] = None
) -> Assignment:
    """The assignment for a known definition, by the proxy's rules: draft, shadow and stopped give the control,
    running assigns over the experiment's unit (no id: the control, no unit recorded), promoted gives the promoted
    variant."""
    kind = definition["unit"]
    own = user_id if kind == "userId" else session_id if kind == "sessionId" else None
    uid = own if _nonempty(own) else unit if _nonempty(unit) else None
    variant = definition["control"]
    recorded = None
    promoted = definition.get("promoted")
    if definition["status"] == "promoted" and isinstance(promoted, dict) and _nonempty(promoted.get("variant")):
        variant = promoted["variant"]
        recorded = None if uid is None else "%s:%s" % (kind, uid)
    elif definition["status"] == "running" and uid is not None:
        variant = (
            assign_variant(definition["name"], definition["salt"], definition["allocation"], uid)
            or definition["control"]
        )
        recorded = "%s:%s" % (kind, uid)
    headers = {"x-intersebd-experiment": definition["name"], "x-intersebd-variant": variant}
    headers.update(_unit_headers(user_id, session_id))
    # An id given as `unit` goes in the header of the experiment's unit: the proxy reads the unit from there.
    if uid is not None and kind == "userId":
        headers["x-intersebd-user-id"] = uid
    if uid is not None and kind == "sessionId":
        headers["x-intersebd-session-id"] = uid
    return Assignment(
        experiment=definition["name"],
        variant=variant,
        control=variant == definition["control"],
        overrides=_overrides(definition, variant),
        headers=headers,
        assignment_unit=recorded,
    )


class _Entry:
    __slots__ = ("definition", "fetched", "failing", "due")

    def __init__(self) -> None:
        self.definition: Optional[Dict[str, Any]] = None
        self.fetched = threading.Event()  # set after the first fetch, whatever its outcome
        self.failing = False
        self.due = True  # fetch at the worker's next turn


class Experiments:
    """The experiments cache of one client (``client.experiments``, ``intersebd.experiments``): definitions by
    name, fetched by one daemon thread on first use and every ``refresh_interval`` seconds after.

    Example::

        intersebd.experiments.ready("titles", timeout=2)  # at start-up, before serving
    """

    def __init__(
        self,
        base_url: str,
        headers: Dict[str, str],
        enabled: Callable[[], bool],
        report: Callable[[IntersebdError], None],
        refresh_interval: float = 30.0,
        timeout: float = 10.0,
    ) -> None:
        self._base_url = base_url
        self._headers = {k: v for k, v in headers.items() if k != "content-type"}
        self._enabled = enabled
        self._report = report
        self._interval = refresh_interval
        self._timeout = timeout
        self._opener = urllib.request.build_opener()
        self._init_state()

    def _init_state(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._entries: Dict[str, _Entry] = {}
        self._thread: Optional[threading.Thread] = None
        self._stopped = False
        # refresh() asks (_asked += 1) and waits until a fetch round that started after its ask has ended.
        self._asked = 0
        self._served = 0

    def variant(
        self, name: str, user_id: Optional[str] = None, session_id: Optional[str] = None, unit: Optional[str] = None
    ) -> Assignment:
        """See ``Intersebd.variant``."""
        try:
            if not self._enabled() or not _nonempty(name):
                return Assignment(experiment=str(name), variant=None, control=True)
            entry = self._entry(name)
            definition = entry.definition
            if definition is not None:
                return assign(definition, _str(user_id), _str(session_id), _str(unit))
            headers = {"x-intersebd-experiment": name}
            headers.update(_unit_headers(_str(user_id), _str(session_id)))
            return Assignment(experiment=name, variant=None, control=True, headers=headers)
        except Exception as exc:  # never into the caller
            self._report(IntersebdError("variant(%r) failed: %r" % (name, exc), code="invalid_input", kind="experiment"))
            return Assignment(experiment=str(name), variant=None, control=True)

    def ready(self, name: str, timeout: Optional[float] = 5.0) -> bool:
        """Waits (at most ``timeout`` seconds; None: until done) for the experiment's first fetch, starting it if
        nothing asked for it yet. Returns whether its definition is known."""
        if not self._enabled() or not _nonempty(name):
            return False
        entry = self._entry(name)
        entry.fetched.wait(timeout)
        return entry.definition is not None

    def refresh(self, name: Optional[str] = None, timeout: Optional[float] = 10.0) -> bool:
        """Fetches now (one experiment, or every one asked for so far) and waits for it, at most ``timeout``
        seconds. Returns whether every one asked for is known."""
        if not self._enabled():
            return False
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._wake:
            names = list(self._entries) if name is None else [name]
            for n in names:
                self._entry_locked(n).due = True
            self._asked += 1
            target = self._asked
            self._ensure_thread()
            self._wake.notify_all()
            while self._served < target and not self._stopped:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._wake.wait(remaining)
            return all(self._entries[n].definition is not None for n in names)

    def definition(self, name: str) -> Optional[Dict[str, Any]]:
        """The cached definition, if any."""
        entry = self._entries.get(name)
        return None if entry is None else entry.definition

    def stop(self) -> None:
        """Stops the refresh thread; definitions stay cached."""
        with self._wake:
            self._stopped = True
            self._wake.notify_all()

    # -- the worker ------------------------------------------------------------------------------------------

    def _entry(self, name: str) -> _Entry:
        entry = self._entries.get(name)
        if entry is not None:
            return entry
        with self._wake:
            entry = self._entry_locked(name)
            self._ensure_thread()
            self._wake.notify_all()
            return entry

    def _entry_locked(self, name: str) -> _Entry:
        entry = self._entries.get(name)
        if entry is None:
            entry = self._entries[name] = _Entry()
        return entry

    def _ensure_thread(self) -> None:
        if self._stopped or (self._thread is not None and self._thread.is_alive()):
            return
        t = threading.Thread(target=self._run, name="intersebd-experiments", daemon=True)
        try:
            t.start()
        except RuntimeError:  # interpreter shutdown
            return
        self._thread = t

    def _run(self) -> None:
        next_all = time.monotonic() + self._interval
        while True:
            with self._wake:
                while not self._stopped:
                    if any(e.due for e in self._entries.values()):
                        break
                    wait = next_all - time.monotonic()
                    if wait <= 0:
                        for e in self._entries.values():
                            e.due = True
                        next_all = time.monotonic() + self._interval
                        break
                    self._wake.wait(wait)
                if self._stopped:
                    return
                asked = self._asked
                todo = [(n, e) for n, e in self._entries.items() if e.due]
                for _n, e in todo:
                    e.due = False
            if self._enabled():
                for n, e in todo:
                    try:
                        self._load(n, e)
                    except Exception as exc:  # a bug here must not kill the thread
                        self._report(IntersebdError("experiments: %r" % (exc,), code="internal_error", kind="experiment"))
                    finally:
                        e.fetched.set()
            with self._wake:
                self._served = max(self._served, asked)
                self._wake.notify_all()

    def _load(self, name: str, entry: _Entry) -> None:
        url = "%s/api/experiments/%s" % (self._base_url, urllib.parse.quote(name, safe=""))
        problem = None
        code = "network_error"
        status = None
        try:
            req = urllib.request.Request(url, headers=self._headers, method="GET")
            with self._opener.open(req, timeout=self._timeout) as resp:
                text = resp.read().decode("utf-8", "replace")
            definition = read_definition(json.loads(text))
            if definition is not None:
                entry.definition = definition
                entry.failing = False
                return
            problem, code = "the server's answer is not an experiment definition", "invalid_response"
        except urllib.error.HTTPError as exc:
            status = exc.code
            code = "not_found" if exc.code == 404 else "http_%d" % exc.code
            problem = "no such experiment on the server" if exc.code == 404 else "HTTP %d" % exc.code
            exc.close()
        except Exception as exc:
            problem = str(exc) or repr(exc)
        if not entry.failing:
            entry.failing = True
            kept = " (keeping the last definition)" if entry.definition is not None else ""
            self._report(
                IntersebdError(
                    "experiment %r could not be fetched: %s%s" % (name, problem, kept),
                    code=code,
                    status=status,
                    kind="experiment",
                )
            )


def _str(v: Any) -> Optional[str]:
    """Ids as text: an int or a UUID is hashed as its str(), as the server sees it in a header."""
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bool):
        return None
    return str(v)
