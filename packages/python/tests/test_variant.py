"""``variant()``: the pure-Python kernel against the shared table the TypeScript SDK is held to, the status and
unit rules, the background fetch (refresh, failures, ``enabled``) against a local definitions server, and one
experiment created on the real server.

The table is the TypeScript package's file, read by its path in the repository: the SDKs must agree on it, so
there is one copy (the sdist leaves the tests out, so the wheel does not need it).
"""

from __future__ import annotations

import json
import os
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional

from _support import api, require_server, unique, wait_for

import intersebd
from intersebd._experiments import assign, assign_variant, bucket_of, fnv1a32

TABLE_PATH = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "sdk", "src", "experiments", "assignment-cases.json"
)
with open(TABLE_PATH, encoding="utf-8") as f:
    TABLE = json.load(f)


def allocate_half() -> List[Dict[str, Any]]:
    return [{"variant": "control", "from": 0, "to": 5000}, {"variant": "candidate", "from": 5000, "to": 10000}]


def definition(**over: Any) -> Dict[str, Any]:
    d = {
        "name": "titles",
        "version": 1,
        "status": "running",
        "unit": "userId",
        "salt": "titles",
        "control": "control",
        "variants": [
            {"name": "control", "weight": 50},
            {"name": "candidate", "weight": 50, "model": "gpt-4o", "systemPrompt": "Be brief."},
        ],
        "allocation": allocate_half(),
    }
    d.update(over)
    return d


class DefinitionsServer:
    """Answers ``GET /api/experiments/{name}`` with ``self.answer`` (a dict, an HTTP status, or "down" to close
    the connection without an answer) and records each request's path and headers."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.seen: List[Dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                owner.seen.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}})
                a = owner.answer
                if a == "down":
                    self.close_connection = True
                    self.connection.close()
                    return
                status, body = (a, {"error": {"message": "no"}}) if isinstance(a, int) else (200, a)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class KernelTest(unittest.TestCase):
    def test_hand_computed_values(self) -> None:
        self.assertEqual(fnv1a32("a"), 0xE40C292C)
        self.assertEqual(fnv1a32(""), 0x811C9DC5)
        self.assertEqual(bucket_of("t", "s", "u1"), 7455)

    def test_every_row_of_the_shared_table(self) -> None:
        self.assertGreaterEqual(len(TABLE["rows"]), 300)
        wrong = [r for r in TABLE["rows"] if bucket_of(r["experiment"], r["salt"], r["unit"]) != r["bucket"]]
        self.assertEqual(wrong, [])
        # The awkward ones are there (a lone surrogate comes out of json.loads as one).
        units = {r["unit"] for r in TABLE["rows"]}
        for u in ("", "007", "josé", "😀", "bad\ud800id"):
            self.assertIn(u, units)

    def test_every_allocation_of_the_shared_table(self) -> None:
        for a in TABLE["allocations"]:
            got = [
                {"unit": c["unit"], "variant": assign_variant(a["experiment"], a["salt"], a["allocation"], c["unit"])}
                for c in a["cases"]
            ]
            self.assertEqual(got, a["cases"], a["experiment"])


class AssignTest(unittest.TestCase):
    def test_status_rules(self) -> None:
        users = ["user-%d" % i for i in range(50)]
        for status in ("draft", "shadow", "stopped"):
            for u in users:
                a = assign(definition(status=status), user_id=u)
                self.assertEqual(a.variant, "control")
                self.assertIsNone(a.assignment_unit)
        for u in users:
            a = assign(definition(status="promoted", promoted={"variant": "candidate"}), user_id=u)
            self.assertEqual((a.variant, a.control, a.overrides["model"]), ("candidate", False, "gpt-4o"))
        drawn = {assign(definition(), user_id=u).variant for u in users}
        self.assertEqual(drawn, {"control", "candidate"})

    def test_units_and_headers(self) -> None:
        a = assign(definition(unit="sessionId"), user_id="u-x", session_id="s-9")
        self.assertEqual(a.variant, assign_variant("titles", "titles", allocate_half(), "s-9"))
        self.assertEqual(a.assignment_unit, "sessionId:s-9")
        self.assertEqual(
            a.headers,
            {
                "x-intersebd-experiment": "titles",
                "x-intersebd-variant": a.variant,
                "x-intersebd-user-id": "u-x",
                "x-intersebd-session-id": "s-9",
            },
        )
        by_unit = assign(definition(unit="sessionId"), unit="s-9")
        self.assertEqual(by_unit.variant, a.variant)
        self.assertEqual(by_unit.headers["x-intersebd-session-id"], "s-9")
        none = assign(definition(unit="sessionId"), user_id="u-1")
        self.assertEqual((none.variant, none.assignment_unit), ("control", None))


class CacheTest(unittest.TestCase):
    def setUp(self) -> None:
        self.server = DefinitionsServer(definition())
        self.errors: List[intersebd.IntersebdError] = []
        self.client: Optional[intersebd.Intersebd] = None

    def tearDown(self) -> None:
        if self.client is not None:
            self.client.shutdown(timeout=1)
        self.server.close()

    def make(self, **kw: Any) -> intersebd.Intersebd:
        kw.setdefault("enabled", True)
        self.client = intersebd.Intersebd(base_url=self.server.url, api_key="k-py", on_error=self.errors.append, **kw)
        return self.client

    def test_control_first_then_the_kernel(self) -> None:
        c = self.make()
        first = c.variant("titles", user_id="u1")
        self.assertEqual((first.variant, first.control), (None, True))
        self.assertEqual(first.headers, {"x-intersebd-experiment": "titles", "x-intersebd-user-id": "u1"})
        self.assertTrue(c.experiments.ready("titles", timeout=10))
        self.assertEqual(len(self.server.seen), 1)
        self.assertEqual(self.server.seen[0]["path"], "/api/experiments/titles")
        self.assertEqual(self.server.seen[0]["headers"].get("x-intersebd-key"), "k-py")
        table = next(a for a in TABLE["allocations"] if a["experiment"] == "titles" and a["salt"] == "titles")
        for case in table["cases"]:
            if case["unit"] == "":
                continue
            a = c.variant("titles", user_id=case["unit"])
            self.assertEqual(a.variant, case["variant"], case["unit"])
            self.assertEqual(a.assignment_unit, "userId:" + case["unit"])
        self.assertEqual(len(self.server.seen), 1, "variant() never fetches once the definition is known")
        self.assertEqual(self.errors, [])

    def test_refresh_sees_new_weights_and_the_timer_refreshes(self) -> None:
        c = self.make(experiments_refresh_interval=0.05)
        self.assertTrue(c.experiments.ready("titles", timeout=10))
        moved = [{"variant": "control", "from": 0, "to": 1000}, {"variant": "candidate", "from": 1000, "to": 10000}]
        self.server.answer = definition(version=2, allocation=moved)
        self.assertTrue(c.experiments.refresh("titles", timeout=10))
        self.assertEqual(c.experiments.definition("titles")["version"], 2)
        users = ["w%d" % i for i in range(200)]
        for u in users:
            self.assertEqual(c.variant("titles", user_id=u).variant, assign_variant("titles", "titles", moved, u))
        # And without refresh(): the timer alone picks up version 3.
        self.server.answer = definition(version=3, status="stopped")
        wait_for(lambda: c.experiments.definition("titles")["version"] == 3, what="the timer's refresh")
        self.assertEqual(c.variant("titles", user_id="w1").variant, "control")

    def test_server_down_never_raises_and_keeps_the_last_definition(self) -> None:
        self.server.answer = "down"
        c = self.make()
        self.assertIsNone(c.variant("titles", user_id="u1").variant)
        self.assertFalse(c.experiments.ready("titles", timeout=10))
        self.assertIsNone(c.variant("titles", user_id="u1").variant)
        self.assertEqual([e.kind for e in self.errors], ["experiment"])
        self.server.answer = definition()
        self.assertTrue(c.experiments.refresh("titles", timeout=10))
        known = c.variant("titles", user_id="u1").variant
        self.assertIn(known, ("control", "candidate"))
        for failure in ("down", 500, 404, {"name": "titles"}):
            self.server.answer = failure
            self.assertTrue(c.experiments.refresh("titles", timeout=10))
            self.assertEqual(c.variant("titles", user_id="u1").variant, known)
        self.assertEqual(len(self.errors), 2, [str(e) for e in self.errors])

    def test_disabled_answers_the_control_with_no_fetch(self) -> None:
        c = self.make(enabled=False)
        a = c.variant("titles", user_id="u1")
        self.assertEqual((a.variant, a.control, a.headers, a.overrides), (None, True, {}, {}))
        self.assertFalse(c.experiments.ready("titles", timeout=0.1))
        self.assertEqual(self.server.seen, [])
        c.enabled = True
        c.variant("titles", user_id="u1")
        self.assertTrue(c.experiments.ready("titles", timeout=10))

    def test_bad_input_answers_the_control(self) -> None:
        c = self.make()
        self.assertIsNone(c.variant(None).variant)  # type: ignore[arg-type]
        self.assertIsNone(c.variant("", user_id="u1").variant)
        c.experiments.ready("titles", timeout=10)
        # An int id is hashed as its text, as the server sees it in a header.
        self.assertEqual(c.variant("titles", user_id=42).variant, c.variant("titles", user_id="42").variant)  # type: ignore[arg-type]


class RealServerTest(unittest.TestCase):
    def test_matches_the_server_definition(self) -> None:
        require_server()
        name = unique("py-exp")
        status, body = api(
            "POST",
            "/api/experiments",
            {
                "name": name,
                "status": "running",
                "variants": [{"name": "control", "weight": 1}, {"name": "candidate", "weight": 1, "model": "m2"}],
                "by": "python-tests",
            },
        )
        self.assertEqual(status, 201, body)
        client = intersebd.Intersebd(enabled=True)
        try:
            self.assertTrue(client.experiments.ready(name, timeout=10))
            for i in range(50):
                u = "user-%d" % i
                expected = assign_variant(name, body["salt"], body["allocation"], u)
                self.assertEqual(client.variant(name, user_id=u).variant, expected)
        finally:
            client.shutdown(timeout=1)
