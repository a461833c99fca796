"""Delivery to a real server: batching, resolution through links, enabled=False, drop-oldest, threads."""

from __future__ import annotations

import os
import threading
import unittest
import uuid

from _support import (
    RecordingClient,
    annotations_on,
    api,
    ingest_call,
    require_server,
    tag_detail,
    unique,
)

import intersebd


def setUpModule() -> None:
    require_server()


class BatchingTest(unittest.TestCase):
    def test_events_of_one_kind_go_in_one_request_and_kinds_are_split(self) -> None:
        # A long interval: only a full batch or flush() can start a request.
        c = RecordingClient(require_server(), flush_interval=60, max_batch_size=5)
        up = unique("batch-up")
        for i in range(5):
            c.link(upstream_tag=up, downstream_tag="%s-d%d" % (up, i))
        self.assertTrue(c.flush(timeout=15))
        self.assertEqual(c.requests, [("/api/links", 5, 201)])

        key = unique("batch-key")
        for i in range(3):
            c.annotate(annotation_key=key, numeric_reward=i / 2, data={"i": i})
        c.link(upstream_tag=up, downstream_tag=up + "-d5")
        c.link(upstream_tag=up, downstream_tag=up + "-d6")
        self.assertTrue(c.flush(timeout=15))
        self.assertEqual(sorted(c.requests[1:]), [("/api/annotations", 3, 201), ("/api/links", 2, 201)])
        self.assertEqual(c.stats(), {"queued": 0, "sent": 10, "dropped": 0, "failed": 0})
        self.assertEqual(c.errors, [])

        # What the server stored.
        downstream = sorted(link["downstreamTag"] for link in tag_detail(up)["downstreamLinks"])
        self.assertEqual(downstream, ["%s-d%d" % (up, i) for i in range(7)])
        stored = annotations_on(key)
        self.assertEqual(sorted(a["data"]["i"] for a in stored), [0, 1, 2])
        self.assertEqual(sorted(a["numericReward"] for a in stored), [0, 0.5, 1])
        c.shutdown()

    def test_the_interval_sends_without_flush(self) -> None:
        c = RecordingClient(require_server(), flush_interval=0.05)
        key = unique("interval")
        c.annotate(annotation_key=key, numeric_reward=1)
        # No flush(): the sender thread must send on its own once the interval has passed.
        deadline = threading.Event()
        for _ in range(500):
            if c.stats()["sent"] == 1:
                break
            deadline.wait(0.02)
        self.assertEqual(c.stats()["sent"], 1)
        self.assertEqual(len(annotations_on(key)), 1)
        c.shutdown()


class ResolutionTest(unittest.TestCase):
    def test_link_then_annotate_shows_on_the_call_with_its_path(self) -> None:
        completion_id = unique("chatcmpl")
        ingest_call(completion_id)
        reply, selection = unique("reply"), unique("selection")
        c = RecordingClient(require_server(), flush_interval=60)
        c.link(upstream_tag=completion_id, downstream_tag=reply)
        c.link(upstream_tag=reply, downstream_tag=selection, metadata={"title": "Picked"})
        c.annotate(annotation_key=selection, numeric_reward=1, data={"clicked": True}, comment="good")
        self.assertTrue(c.flush(timeout=15))
        self.assertEqual(c.errors, [])

        status, call = api("GET", "/api/calls/" + completion_id)
        self.assertEqual(status, 200, call)
        self.assertEqual(call["completionId"], completion_id)
        self.assertEqual(len(call["annotations"]), 1, call["annotations"])
        a = call["annotations"][0]
        self.assertEqual(a["annotationKey"], selection)
        self.assertEqual(a["numericReward"], 1)
        self.assertEqual(a["name"], "reward")
        self.assertEqual(a["source"], "code")
        self.assertEqual(a["data"], {"clicked": True})
        self.assertEqual(a["comment"], "good")
        self.assertEqual(a["path"], [completion_id, reply, selection])
        # The SDK gave the annotation a UUID4 id (what makes its retries idempotent).
        self.assertEqual(uuid.UUID(a["id"]).version, 4)
        metadata = [link["metadata"] for link in call["links"] if link["downstreamTag"] == selection]
        self.assertEqual(metadata, [{"title": "Picked"}])
        c.shutdown()

    def test_an_annotation_sent_before_its_link_resolves_too(self) -> None:
        completion_id = unique("chatcmpl")
        ingest_call(completion_id)
        reply = unique("reply")
        c = RecordingClient(require_server(), flush_interval=60)
        c.annotate(annotation_key=reply, numeric_reward=0, name="title_ok", source="user", annotator_id=42)
        self.assertTrue(c.flush(timeout=15))
        c.link(upstream_tag=completion_id, downstream_tag=reply)
        self.assertTrue(c.flush(timeout=15))
        status, call = api("GET", "/api/calls/" + completion_id)
        self.assertEqual(status, 200, call)
        got = [(a["name"], a["numericReward"], a["source"], a["annotatorId"]) for a in call["annotations"]]
        self.assertEqual(got, [("title_ok", 0, "user", "42")])
        c.shutdown()

    def test_a_client_id_is_kept(self) -> None:
        key, ann_id = unique("keyed"), unique("ann")
        c = RecordingClient(require_server(), flush_interval=60)
        c.annotate(annotation_key=key, numeric_reward=1, id=ann_id)
        c.annotate(annotation_key=key, numeric_reward=1, id=ann_id)  # a retry by the application
        self.assertTrue(c.flush(timeout=15))
        self.assertEqual(c.stats()["sent"], 2)
        self.assertEqual([a["id"] for a in annotations_on(key)], [ann_id])
        c.shutdown()


class EnabledTest(unittest.TestCase):
    def test_disabled_client_sends_nothing_and_starts_no_thread(self) -> None:
        c = RecordingClient(require_server(), enabled=False, flush_interval=0.01)
        key = unique("disabled")
        c.link(upstream_tag=key, downstream_tag=key + "-d")
        c.annotate(annotation_key=key, numeric_reward=1)
        c.notify(completion_id=key, send_notification_to="someone")
        c.annotate(annotation_key="", numeric_reward=float("nan"))  # not even validated
        self.assertTrue(c.flush(timeout=5))
        self.assertEqual(c.requests, [])
        self.assertEqual(c.errors, [])
        self.assertIsNone(c._thread)
        self.assertEqual(c.stats(), {"queued": 0, "sent": 0, "dropped": 0, "failed": 0})
        self.assertEqual(annotations_on(key), [])
        self.assertEqual(tag_detail(key)["downstreamLinks"], [])

        # Switching it on later works, through the attribute.
        c.enabled = True
        c.annotate(annotation_key=key, numeric_reward=1)
        self.assertTrue(c.flush(timeout=15))
        self.assertEqual(len(annotations_on(key)), 1)
        c.shutdown()

    def test_module_attribute_reaches_the_default_client(self) -> None:
        errors: list = []
        client = intersebd.configure(base_url=require_server(), flush_interval=60, on_error=errors.append)
        self.assertIs(intersebd.get_client(), client)
        key = unique("module-enabled")
        try:
            intersebd.enabled = False
            self.assertFalse(client.enabled)
            self.assertFalse(intersebd.enabled)
            intersebd.annotate(annotation_key=key, numeric_reward=1)
            self.assertEqual(intersebd.stats()["queued"], 0)
            # configure() keeps the module's enabled setting unless told otherwise.
            self.assertFalse(intersebd.configure(base_url=require_server(), flush_interval=60).enabled)
            intersebd.enabled = True
            self.assertTrue(intersebd.get_client().enabled)
            intersebd.annotate(annotation_key=key, numeric_reward=0.25)
            self.assertEqual(intersebd.stats()["queued"], 1)
            self.assertTrue(intersebd.flush(timeout=15))
            self.assertEqual([a["numericReward"] for a in annotations_on(key)], [0.25])
            self.assertEqual(errors, [])
        finally:
            intersebd.enabled = True
            intersebd.shutdown(timeout=5)


class QueueTest(unittest.TestCase):
    def test_a_full_queue_drops_the_oldest_and_counts_them(self) -> None:
        c = RecordingClient(require_server(), flush_interval=60, max_queue_size=3)
        key = unique("drop")
        for i in range(10):
            c.annotate(annotation_key=key, data={"i": i})
        self.assertEqual(c.stats(), {"queued": 3, "sent": 0, "dropped": 7, "failed": 0})
        self.assertEqual([e.code for e in c.errors], ["queue_full"])  # once per episode, not per event
        self.assertTrue(c.flush(timeout=15))
        self.assertEqual(c.stats(), {"queued": 0, "sent": 3, "dropped": 7, "failed": 0})
        self.assertEqual(sorted(a["data"]["i"] for a in annotations_on(key)), [7, 8, 9])
        c.shutdown()

    def test_many_threads_at_once(self) -> None:
        c = RecordingClient(require_server(), flush_interval=0.01, max_batch_size=37)
        key = unique("threads")

        def work(t: int) -> None:
            for i in range(50):
                c.annotate(annotation_key=key, data={"t": t, "i": i})

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertTrue(c.flush(timeout=30))
        self.assertEqual(c.stats(), {"queued": 0, "sent": 200, "dropped": 0, "failed": 0})
        self.assertTrue(all(n <= 37 for _path, n, _status in c.requests), c.requests)
        got = sorted((a["data"]["t"], a["data"]["i"]) for a in annotations_on(key))
        self.assertEqual(got, sorted((t, i) for t in range(4) for i in range(50)))
        c.shutdown()


class AuthTest(unittest.TestCase):
    def test_a_wrong_key_is_refused_and_not_retried(self) -> None:
        if not os.environ.get("INTERSEBD_API_KEY"):
            self.skipTest("the server under test requires no API key (INTERSEBD_API_KEY is not set)")
        c = RecordingClient(require_server(), api_key="wrong-key", flush_interval=60)
        key = unique("wrong-key")
        c.annotate(annotation_key=key, numeric_reward=1)
        self.assertTrue(c.flush(timeout=15))
        self.assertEqual(c.requests, [("/api/annotations", 1, 401)])
        self.assertEqual([(e.code, e.status) for e in c.errors], [("unauthorized", 401)])
        self.assertEqual(c.stats(), {"queued": 0, "sent": 0, "dropped": 0, "failed": 1})
        self.assertEqual(annotations_on(key), [])
        c.shutdown()


class NotifyTest(unittest.TestCase):
    def test_notify_reaches_the_server(self) -> None:
        completion_id = unique("chatcmpl")
        ingest_call(completion_id)
        recipient, message = unique("user"), unique("please judge")
        c = RecordingClient(require_server(), flush_interval=60)
        c.notify(completion_id=completion_id, send_notification_to=recipient, message=message)
        self.assertTrue(c.flush(timeout=15))
        if c.errors and c.errors[0].status == 404 and "no route" in str(c.errors[0]):
            self.skipTest("POST /api/notifications is not on this server yet: %s" % c.errors[0])
        self.assertEqual(c.errors, [])
        self.assertEqual(c.stats()["sent"], 1)
        status, body = api("GET", "/api/notifications?recipient=" + recipient)
        self.assertEqual(status, 200, body)
        self.assertIn(message, str(body))
        c.shutdown()


if __name__ == "__main__":
    unittest.main()
