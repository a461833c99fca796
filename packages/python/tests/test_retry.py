"""Retries and refusals, through a scripted proxy in front of the real server."""

from __future__ import annotations

import json
import threading
import unittest

from _support import (
    RecordingClient,
    ScriptedProxy,
    annotations_on,
    error_answer,
    free_port,
    require_server,
    unique,
)


def setUpModule() -> None:
    require_server()


def fast(url: str, **kw):
    """A client with short retry delays (the defaults start at 0.5 s)."""
    kw.setdefault("flush_interval", 60)
    kw.setdefault("retry_backoff", 0.01)
    kw.setdefault("max_backoff", 0.05)
    return RecordingClient(url, **kw)


class RetryTest(unittest.TestCase):
    def test_503_twice_then_delivered_once(self) -> None:
        proxy = ScriptedProxy(lambda n, path, body: error_answer(503, "busy", code="x") if n < 2 else None)
        self.addCleanup(proxy.close)
        c = fast(proxy.url)
        key = unique("retry503")
        c.annotate(annotation_key=key, numeric_reward=1)
        self.assertTrue(c.flush(timeout=15))
        self.assertEqual([status for _p, _n, status in c.requests], [503, 503, 201])
        self.assertEqual(c.stats(), {"queued": 0, "sent": 1, "dropped": 0, "failed": 0})
        self.assertEqual(c.errors, [])
        # The same body each time, with the same client id.
        self.assertEqual(len({json.dumps(s["body"]) for s in proxy.seen}), 1)
        self.assertEqual(len(annotations_on(key)), 1)
        c.shutdown()

    def test_a_retry_after_a_lost_answer_is_stored_once(self) -> None:
        # The server stores the batch, but the client sees a 502 and sends it again.
        proxy = ScriptedProxy(lambda n, path, body: ("forward_then", 502) if n == 0 else None)
        self.addCleanup(proxy.close)
        c = fast(proxy.url)
        key = unique("lost-answer")
        c.annotate(annotation_key=key, numeric_reward=0.5)
        self.assertTrue(c.flush(timeout=15))
        self.assertEqual([status for _p, _n, status in c.requests], [502, 201])
        self.assertEqual(len(annotations_on(key)), 1)
        c.shutdown()

    def test_server_unreachable_then_back(self) -> None:
        port = free_port()
        c = fast("http://127.0.0.1:%d" % port, max_retries=200, max_backoff=0.1)
        key = unique("unreachable")
        c.annotate(annotation_key=key, numeric_reward=1)
        self.assertFalse(c.flush(timeout=0.05))
        # Wait until the client has failed to connect at least twice, then bring the "server" up on that port.
        deadline = threading.Event()
        for _ in range(500):
            if sum(1 for r in c.requests if isinstance(r[2], Exception)) >= 2:
                break
            deadline.wait(0.02)
        failures = [r for r in c.requests if isinstance(r[2], Exception)]
        self.assertGreaterEqual(len(failures), 2, c.requests)
        self.assertEqual(c.stats()["queued"], 1)
        proxy = ScriptedProxy(lambda n, path, body: None, port=port)
        self.addCleanup(proxy.close)
        self.assertTrue(c.flush(timeout=20))
        self.assertEqual(c.requests[-1][2], 201)
        self.assertEqual(c.stats(), {"queued": 0, "sent": 1, "dropped": 0, "failed": 0})
        self.assertEqual(c.errors, [])
        self.assertEqual(len(annotations_on(key)), 1)
        c.shutdown()

    def test_429_waits_at_least_retry_after(self) -> None:
        proxy = ScriptedProxy(lambda n, path, body: (429, {"retry-after": "1"}, {"error": {}}) if n == 0 else None)
        self.addCleanup(proxy.close)
        c = fast(proxy.url)  # its own backoff would be about 0.01 s
        key = unique("r429")
        c.annotate(annotation_key=key)
        self.assertTrue(c.flush(timeout=15))
        self.assertEqual([status for _p, _n, status in c.requests], [429, 201])
        self.assertEqual(len(c.delays), 1)
        self.assertGreaterEqual(c.delays[0], 1.0)
        self.assertEqual(len(annotations_on(key)), 1)
        c.shutdown()

    def test_gives_up_after_max_retries(self) -> None:
        proxy = ScriptedProxy(lambda n, path, body: error_answer(500, "broken", code="boom"))
        self.addCleanup(proxy.close)
        c = fast(proxy.url, max_retries=2)
        key = unique("giveup")
        c.annotate(annotation_key=key)
        self.assertTrue(c.flush(timeout=15))
        self.assertEqual(len(proxy.seen), 3)
        self.assertEqual(c.stats(), {"queued": 0, "sent": 0, "dropped": 0, "failed": 1})
        self.assertEqual(len(c.errors), 1)
        err = c.errors[0]
        self.assertEqual((err.code, err.status, err.kind, err.count), ("boom", 500, "annotation", 1))
        self.assertEqual(err.events[0]["annotationKey"], key)
        self.assertEqual(annotations_on(key), [])
        c.shutdown()


class RefusalTest(unittest.TestCase):
    def test_4xx_is_not_retried_and_reaches_on_error(self) -> None:
        proxy = ScriptedProxy(
            lambda n, path, body: error_answer(401, "missing x-intersebd-key", code="unauthorized") if n == 0 else None
        )
        self.addCleanup(proxy.close)
        c = fast(proxy.url)
        key = unique("r401")
        c.annotate(annotation_key=key)
        self.assertTrue(c.flush(timeout=15))
        self.assertEqual(len(proxy.seen), 1)
        self.assertEqual(c.delays, [])
        self.assertEqual([(e.status, e.code, e.count) for e in c.errors], [(401, "unauthorized", 1)])
        self.assertEqual(c.stats(), {"queued": 0, "sent": 0, "dropped": 0, "failed": 1})
        # The client keeps working afterwards.
        c.annotate(annotation_key=key, numeric_reward=1)
        self.assertTrue(c.flush(timeout=15))
        self.assertEqual([a["numericReward"] for a in annotations_on(key)], [1])
        c.shutdown()

    def test_one_refused_item_does_not_sink_its_batch(self) -> None:
        # The server names the bad item of a batch ("[1].annotationKey"); the others are sent again without it.
        proxy = ScriptedProxy(
            lambda n, path, body: (
                error_answer(400, "field [1].annotationKey: no", field="[1].annotationKey") if n == 0 else None
            )
        )
        self.addCleanup(proxy.close)
        c = fast(proxy.url)
        a, b, d = unique("a"), unique("b"), unique("d")
        for key in (a, b, d):
            c.annotate(annotation_key=key)
        self.assertTrue(c.flush(timeout=15))
        self.assertEqual([(r[1], r[2]) for r in c.requests], [(3, 400), (2, 201)])
        self.assertEqual([x["annotationKey"] for x in proxy.seen[1]["body"]], [a, d])
        self.assertEqual(len(c.errors), 1)
        self.assertEqual((c.errors[0].field, c.errors[0].count), ("[1].annotationKey", 1))
        self.assertEqual(c.errors[0].events[0]["annotationKey"], b)
        self.assertEqual(c.stats(), {"queued": 0, "sent": 2, "dropped": 0, "failed": 1})
        self.assertEqual((len(annotations_on(a)), len(annotations_on(b)), len(annotations_on(d))), (1, 0, 1))
        c.shutdown()

    def test_413_splits_the_batch(self) -> None:
        proxy = ScriptedProxy(
            lambda n, path, body: error_answer(413, "too large", code="payload_too_large") if len(body) > 2 else None
        )
        self.addCleanup(proxy.close)
        c = fast(proxy.url)
        up = unique("split")
        for i in range(5):
            c.link(upstream_tag=up, downstream_tag="%s-%d" % (up, i))
        self.assertTrue(c.flush(timeout=15))
        sizes = [(r[1], r[2]) for r in c.requests]
        self.assertEqual(sizes[0], (5, 413))
        self.assertEqual(sum(n for n, status in sizes if status == 201), 5)
        self.assertEqual(c.stats(), {"queued": 0, "sent": 5, "dropped": 0, "failed": 0})
        c.shutdown()


class WireTest(unittest.TestCase):
    def test_headers_and_camel_case_bodies(self) -> None:
        proxy = ScriptedProxy(lambda n, path, body: (201, {}, {"accepted": len(body)}))
        self.addCleanup(proxy.close)
        c = fast(proxy.url, api_key="sk-test-123")
        c.link(upstream_tag="u", downstream_tag="d", metadata={"k": [1, 2]})
        c.annotate(
            annotation_key="k",
            numeric_reward=0,
            name="title_ok",
            content="bad",
            data={"x": None},
            comment="c",
            correction="Better title",
            source="human",
            annotator_id="ann-1",
            id="my-id",
        )
        c.notify(completion_id="cc", send_notification_to="bob", message="m", rubric="r", metadata={"a": 1})
        self.assertTrue(c.flush(timeout=15))
        by_path = {s["path"]: s for s in proxy.seen}
        self.assertEqual(sorted(by_path), ["/api/annotations", "/api/links", "/api/notifications"])
        for s in proxy.seen:
            headers = {k.lower(): v for k, v in s["headers"].items()}
            self.assertEqual(headers["x-intersebd-key"], "sk-test-123")
            self.assertEqual(headers["content-type"], "application/json")
            self.assertIsInstance(s["body"], list)
        self.assertEqual(
            by_path["/api/links"]["body"], [{"upstreamTag": "u", "downstreamTag": "d", "metadata": {"k": [1, 2]}}]
        )
        self.assertEqual(
            by_path["/api/annotations"]["body"],
            [
                {
                    "id": "my-id",
                    "annotationKey": "k",
                    "name": "title_ok",
                    "numericReward": 0,
                    "content": "bad",
                    "data": {"x": None},
                    "comment": "c",
                    "correction": "Better title",
                    "source": "human",
                    "annotatorId": "ann-1",
                }
            ],
        )
        [n] = by_path["/api/notifications"]["body"]
        self.assertTrue(n.pop("id"))
        self.assertEqual(
            n,
            {"completionId": "cc", "sendNotificationTo": "bob", "message": "m", "rubric": "r", "metadata": {"a": 1}},
        )
        c.shutdown()

    def test_no_key_header_without_api_key(self) -> None:
        proxy = ScriptedProxy(lambda n, path, body: (201, {}, {"accepted": len(body)}))
        self.addCleanup(proxy.close)
        c = fast(proxy.url, api_key="")
        c.link(upstream_tag="u", downstream_tag="d")
        self.assertTrue(c.flush(timeout=15))
        self.assertEqual(len(proxy.seen), 1)
        self.assertNotIn("x-intersebd-key", {k.lower() for k in proxy.seen[0]["headers"]})
        c.shutdown()


if __name__ == "__main__":
    unittest.main()
