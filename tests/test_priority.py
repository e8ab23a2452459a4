"""OS priority of the bulk-work threads (ray_ocr.cluster.priority), on real threads."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from ray_ocr.cluster.priority import describe_priority, lower_priority

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice and SCHED_IDLE are Linux behaviour")


def in_thread(fn):
    out: dict = {}

    def run() -> None:
        out["v"] = fn()

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return out["v"]


def test_lowers_only_the_calling_thread_and_what_it_starts():
    before = describe_priority()

    def work():
        applied = lower_priority(10, idle=True)
        child = in_thread(describe_priority)  # e.g. onnxruntime's pool, started after
        return applied, child, os.sched_getscheduler(0)

    applied, child, policy = in_thread(work)
    assert applied == "nice=10 policy=SCHED_IDLE"
    assert child == "nice=10 policy=SCHED_IDLE"
    assert policy == os.SCHED_IDLE
    # The main thread (in an actor: Ray's own gRPC threads) keeps its priority.
    assert describe_priority() == before


def test_nice_is_absolute_so_calling_twice_changes_nothing():
    def work():
        lower_priority(7)
        return lower_priority(7), lower_priority(3)  # never raises priority back either

    first, lower = in_thread(work)
    assert first == "nice=7 policy=SCHED_OTHER"
    assert lower == "nice=7 policy=SCHED_OTHER"


def test_zero_changes_nothing():
    assert in_thread(lambda: lower_priority(0, idle=False)) == describe_priority()
