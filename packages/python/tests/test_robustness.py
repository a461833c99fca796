"""Nothing raises into the caller; bad input, bad options, shutdown and a raising on_error are all reported."""

from __future__ import annotations

import json
import math
import os
import threading
import unittest
import uuid
from decimal import Decimal
from unittest import mock

from _support import RecordingClient, annotations_on, free_port, require_server, tag_detail, unique, wait_for

import intersebd
from intersebd._client import _retry_after_seconds


class NeverRaisesTest(unittest.TestCase):
    """These need no server: every call below is refused before anything is queued."""

    def bad_calls(self, c: intersebd.Intersebd):
        class Unwritable:
            pass

        circular: dict = {}
        circular["self"] = circular
        return [
            lambda: c.link(),
            lambda: c.link(upstream_tag="a"),
            lambda: c.link(upstream_tag="", downstream_tag="b"),
            lambda: c.link(upstream_tag="   ", downstream_tag="b"),
            lambda: c.link(upstream_tag="a", downstream_tag=None),
            lambda: c.link(upstream_tag=["a"], downstream_tag="b"),
            lambda: c.link(upstream_tag=True, downstream_tag="b"),
            lambda: c.link(upstream_tag="a" * 1001, downstream_tag="b"),
            lambda: c.link(upstream_tag="a", downstream_tag="b", metadata=[1, 2]),
            lambda: c.link(upstream_tag="a", downstream_tag="b", metadata="{}"),
            lambda: c.link(upstream_tag="a", downstream_tag="b", metadata={"x": Unwritable()}),
            lambda: c.link(upstreamTag="a", downstreamTag="b"),
            lambda: c.annotate(),
            lambda: c.annotate(annotation_key=""),
            lambda: c.annotate(annotation_key="k", numeric_reward="1"),
            lambda: c.annotate(annotation_key="k", numeric_reward=True),
            lambda: c.annotate(annotation_key="k", numeric_reward=math.nan),
            lambda: c.annotate(annotation_key="k", numeric_reward=math.inf),
            lambda: c.annotate(annotation_key="k", numeric_reward=Decimal("NaN")),
            lambda: c.annotate(annotation_key="k", name=""),
            lambda: c.annotate(annotation_key="k", name=3),
            lambda: c.annotate(annotation_key="k", source="robot"),
            lambda: c.annotate(annotation_key="k", data=Unwritable()),
            lambda: c.annotate(annotation_key="k", data={"x": math.nan}),
            lambda: c.annotate(annotation_key="k", content=circular),
            lambda: c.annotate(annotation_key="k", data="x" * (256 * 1024 + 1)),
            lambda: c.annotate(annotation_key="k", comment=5),
            lambda: c.annotate(annotation_key="k", correction=""),
            lambda: c.annotate(annotation_key="k", correction={"role": "user", "content": "x"}),
            lambda: c.annotate(annotation_key="k", correction=42),
            lambda: c.annotate(annotation_key="k", annotator_id=""),
            lambda: c.annotate(annotation_key="k", id=""),
            lambda: c.annotate(annotation_key="k", numericReward=1),
            lambda: c.notify(),
            lambda: c.notify(completion_id="c"),
            lambda: c.notify(completion_id="c", send_notification_to="  "),
            lambda: c.notify(completion_id="c", send_notification_to="u", rubric=""),
            lambda: c.notify(completion_id="c", send_notification_to="u", expires_in_seconds=-1),
            lambda: c.notify(completion_id="c", send_notification_to="u", metadata=("a", "b")),
            lambda: c.notify(completionId="c", sendNotificationTo="u"),
        ]

    def test_bad_input_is_reported_and_dropped_never_raised(self) -> None:
        port = free_port()  # nothing is sent anyway; if something were, it would fail and show in errors
        c = RecordingClient("http://127.0.0.1:%d" % port, flush_interval=60)
        calls = self.bad_calls(c)
        for i, call in enumerate(calls):
            self.assertIsNone(call(), "call %d returned something" % i)
        self.assertEqual(len(c.errors), len(calls))
        self.assertTrue(all(e.code == "invalid_input" for e in c.errors), [e.code for e in c.errors])
        self.assertTrue(all(e.field for e in c.errors), [repr(e) for e in c.errors if not e.field])
        self.assertEqual(c.stats(), {"queued": 0, "sent": 0, "dropped": 0, "failed": len(calls)})
        self.assertTrue(c.flush(timeout=1))
        self.assertEqual(c.requests, [])
        c.shutdown(timeout=0)

    def test_fields_are_named_as_the_caller_wrote_them(self) -> None:
        c = RecordingClient("http://127.0.0.1:%d" % free_port(), flush_interval=60)
        c.annotate(annotation_key="k", numeric_reward=math.nan)
        c.link(upstream_tag="a", downstream_tag="")
        c.annotate(annotation_key="k", data={"x": object()})
        c.link(upstreamTag="a", downstream_tag="b")
        self.assertEqual(
            [(e.field, e.kind) for e in c.errors],
            [("numeric_reward", "annotation"), ("downstream_tag", "link"), ("data", "annotation"), ("upstreamTag", "link")],
        )
        c.shutdown(timeout=0)

    def test_a_raising_on_error_is_contained(self) -> None:
        seen = []

        def on_error(err: intersebd.IntersebdError) -> None:
            seen.append(err)
            raise RuntimeError("the host's hook is broken")

        c = intersebd.Intersebd("http://127.0.0.1:%d" % free_port(), on_error=on_error, flush_interval=60)
        self.assertIsNone(c.annotate(annotation_key=""))
        self.assertIsNone(c.link(upstream_tag=None, downstream_tag=None))
        self.assertEqual(len(seen), 2)
        c.shutdown(timeout=0)

    def test_bad_options_fall_back_to_defaults(self) -> None:
        errors = []
        c = intersebd.Intersebd(
            base_url="not a url",
            on_error=errors.append,
            flush_interval=-1,
            max_batch_size="many",
            max_queue_size=0,
            max_retries=math.nan,
        )
        self.assertEqual(
            sorted(e.field for e in errors), ["base_url", "flush_interval", "max_batch_size", "max_queue_size", "max_retries"]
        )
        self.assertTrue(all(e.code == "invalid_option" for e in errors))
        self.assertEqual(c.base_url, intersebd.DEFAULT_URL)
        self.assertEqual((c._flush_interval, c._max_batch, c._max_queue, c._max_retries), (1.0, 250, 10_000, 8))
        # A non-callable on_error does not raise either.
        with self.assertLogs("intersebd", "WARNING") as logs:
            intersebd.Intersebd(on_error="print", enabled=False)
        self.assertIn("on_error must be callable", logs.output[0])
        # Nor an unknown option given to configure().
        errors2 = []
        client = intersebd.configure(base_url="http://127.0.0.1:1", on_error=errors2.append, flush_secs=3)
        self.assertEqual([e.code for e in errors2], ["invalid_option"])
        self.assertEqual(client.base_url, "http://127.0.0.1:1")
        client.shutdown(timeout=0)

    def test_accepted_python_values(self) -> None:
        c = RecordingClient("http://127.0.0.1:%d" % free_port(), flush_interval=60)
        c.link(upstream_tag=12345, downstream_tag=uuid.UUID(int=7), metadata={"n": 1})
        c.annotate(annotation_key=" padded ", numeric_reward=Decimal("0.5"), correction={"content": "Better"})
        c.notify(completion_id="c", send_notification_to=99)
        self.assertEqual(c.errors, [])
        self.assertEqual(c.stats()["queued"], 3)
        link = json.loads(c._queue[0][2])
        self.assertEqual((link["upstreamTag"], link["downstreamTag"]), ("12345", str(uuid.UUID(int=7))))
        ann = json.loads(c._queue[1][2])
        self.assertEqual((ann["annotationKey"], ann["numericReward"]), ("padded", 0.5))
        self.assertEqual(json.loads(c._queue[2][2])["sendNotificationTo"], "99")
        c.shutdown(timeout=0)

    def test_an_event_is_a_snapshot(self) -> None:
        c = RecordingClient("http://127.0.0.1:%d" % free_port(), flush_interval=60)
        meta = {"step": 1}
        c.link(upstream_tag="a", downstream_tag="b", metadata=meta)
        meta["step"] = 2
        self.assertEqual(json.loads(c._queue[0][2])["metadata"], {"step": 1})
        c.shutdown(timeout=0)

    def test_retry_after_parsing(self) -> None:
        self.assertEqual(_retry_after_seconds("3"), 3.0)
        self.assertEqual(_retry_after_seconds("0.5"), 0.5)
        self.assertEqual(_retry_after_seconds("-2"), 0.0)
        self.assertIsNone(_retry_after_seconds(None))
        self.assertIsNone(_retry_after_seconds("soon"))
        self.assertEqual(_retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT"), 0.0)  # in the past


class ThreadsAndProcessesTest(unittest.TestCase):
    def test_flush_sends_inline_when_no_thread_can_start(self) -> None:
        # At interpreter shutdown Python refuses new threads; flush() then sends on the caller's thread.
        c = RecordingClient(require_server(), flush_interval=60)
        key = unique("inline")
        with mock.patch.object(threading.Thread, "start", side_effect=RuntimeError("can't create new thread")):
            c.annotate(annotation_key=key, numeric_reward=1)
            self.assertIsNone(c._thread)
            self.assertEqual(c.stats()["queued"], 1)
            self.assertTrue(c.flush(timeout=15))
        self.assertEqual(c.stats(), {"queued": 0, "sent": 1, "dropped": 0, "failed": 0})
        self.assertEqual(len(annotations_on(key)), 1)
        c.shutdown()

    @unittest.skipUnless(hasattr(os, "fork"), "no os.fork on this platform")
    def test_a_forked_child_sends_its_own_events_only(self) -> None:
        c = RecordingClient(require_server(), flush_interval=60)
        parent_key, child_key = unique("parent"), unique("child")
        c.annotate(annotation_key=parent_key, numeric_reward=1)  # queued, and the sender thread is running
        self.assertIsNotNone(c._thread)
        pid = os.fork()
        if pid == 0:  # the child: report through the exit code only
            code = 1
            try:
                empty = c.stats()["queued"] == 0
                c.annotate(annotation_key=child_key, numeric_reward=0)
                sent = c.flush(timeout=15) and c.stats()["sent"] == 1
                code = 0 if empty and sent else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0)
        self.assertTrue(c.flush(timeout=15))
        self.assertEqual(c.stats()["sent"], 1)
        self.assertEqual([a["numericReward"] for a in annotations_on(parent_key)], [1])
        self.assertEqual([a["numericReward"] for a in annotations_on(child_key)], [0])
        c.shutdown()


class ShutdownTest(unittest.TestCase):
    def test_flush_times_out_then_shutdown_gives_up_and_refuses(self) -> None:
        c = RecordingClient(
            "http://127.0.0.1:%d" % free_port(), flush_interval=60, retry_backoff=0.05, max_backoff=0.1, max_retries=1000
        )
        c.annotate(annotation_key="k")
        self.assertFalse(c.flush(timeout=0.3))
        self.assertEqual(c.stats()["queued"], 1)
        self.assertFalse(c.shutdown(timeout=0.1))
        # The batch in flight gives up at its next retry wait, on the sender thread.
        wait_for(lambda: c.stats()["failed"] == 1, what="the in-flight batch to be given up")
        self.assertEqual(c.stats(), {"queued": 0, "sent": 0, "dropped": 0, "failed": 1})
        self.assertEqual([e.code for e in c.errors], ["shut_down"])
        self.assertIsNone(c.annotate(annotation_key="late"))
        self.assertEqual([e.code for e in c.errors], ["shut_down", "shut_down"])
        self.assertEqual(c.stats()["failed"], 2)

    def test_shutdown_delivers_what_is_queued(self) -> None:
        c = RecordingClient(require_server(), flush_interval=60)
        key = unique("shutdown")
        c.annotate(annotation_key=key, numeric_reward=1)
        c.link(upstream_tag=key + "-up", downstream_tag=key)
        thread = c._thread
        self.assertIsNotNone(thread)
        self.assertTrue(c.shutdown(timeout=15))
        self.assertEqual(c.stats(), {"queued": 0, "sent": 2, "dropped": 0, "failed": 0})
        self.assertEqual(len(annotations_on(key)), 1)
        self.assertEqual([link["upstreamTag"] for link in tag_detail(key)["upstreamLinks"]], [key + "-up"])
        thread.join(15)
        self.assertFalse(thread.is_alive())


if __name__ == "__main__":
    unittest.main()
