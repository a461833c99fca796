"""Short-lived processes: what a script queued is flushed at interpreter exit, through the module-level API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import unittest

from _support import annotations_on, require_server, tag_detail, unique

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_script(code: str, **env: str) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env.pop("INTERSEBD_ENABLED", None)
    full_env.update({"INTERSEBD_URL": require_server(), "PYTHONPATH": PACKAGE_DIR}, **env)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def setUpModule() -> None:
    require_server()


class ExitTest(unittest.TestCase):
    def test_queued_events_are_flushed_at_exit(self) -> None:
        key = unique("atexit")
        # A 60 s interval: without the atexit hook nothing would be sent before the process ends.
        r = run_script(
            """
            import sys, intersebd
            intersebd.configure(flush_interval=60)
            intersebd.link(upstream_tag=sys.argv[1] + "-up", downstream_tag=sys.argv[1])
            intersebd.annotate(annotation_key=sys.argv[1], numeric_reward=1, data={"from": "subprocess"})
            print(intersebd.stats()["queued"])
            """.replace("sys.argv[1]", repr(key))
        )
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "2")
        self.assertEqual(r.stderr, "")
        stored = annotations_on(key)
        self.assertEqual([(a["numericReward"], a["data"]) for a in stored], [(1, {"from": "subprocess"})])
        self.assertEqual([link["upstreamTag"] for link in tag_detail(key)["upstreamLinks"]], [key + "-up"])

    def test_control_without_atexit_nothing_arrives(self) -> None:
        # The same script leaving through os._exit (which skips atexit): the event is lost, so the test above
        # really exercises the hook.
        key = unique("no-atexit")
        r = run_script(
            """
            import os, intersebd
            intersebd.configure(flush_interval=60)
            intersebd.annotate(annotation_key=%r, numeric_reward=1)
            os._exit(0)
            """
            % key
        )
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(annotations_on(key), [])

    def test_exit_is_bounded_when_the_server_is_down(self) -> None:
        # Nothing listens on port 9: the hook gives up after its timeout and the process still exits cleanly.
        r = run_script(
            """
            import intersebd
            c = intersebd.Intersebd(exit_timeout=0.5, retry_backoff=0.05, max_retries=1000)
            c.annotate(annotation_key="k")
            print("done")
            """,
            INTERSEBD_URL="http://127.0.0.1:9",
        )
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "done")

    def test_environment_configures_the_module(self) -> None:
        key = unique("env-disabled")
        r = run_script(
            """
            import json, intersebd
            out = {"enabled": intersebd.enabled, "url": intersebd.get_client().base_url}
            intersebd.annotate(annotation_key=%r, numeric_reward=1)
            intersebd.link(upstream_tag="a", downstream_tag=%r)
            out["stats"] = intersebd.stats()
            out["thread"] = intersebd.get_client()._thread is not None
            print(json.dumps(out))
            """
            % (key, key),
            INTERSEBD_ENABLED="false",
        )
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        self.assertEqual(
            out,
            {
                "enabled": False,
                "url": require_server(),
                "stats": {"queued": 0, "sent": 0, "dropped": 0, "failed": 0},
                "thread": False,
            },
        )
        self.assertEqual(annotations_on(key), [])
        self.assertEqual(tag_detail(key)["upstreamLinks"], [])

    def test_module_functions_report_bad_input_without_raising(self) -> None:
        r = run_script(
            """
            import intersebd
            assert intersebd.annotate(annotation_key="") is None
            assert intersebd.link(upstream_tag="a") is None
            assert intersebd.notify(completion_id="c") is None
            print(intersebd.stats()["failed"])
            """
        )
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "3")
        # The default on_error is a warning on the "intersebd" logger: visible on stderr, one line per failure.
        self.assertEqual(len([ln for ln in r.stderr.splitlines() if "refused" in ln]), 3, r.stderr)


if __name__ == "__main__":
    unittest.main()
