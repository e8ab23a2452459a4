"""OS priority of the bulk-work threads (OCR, decoding), so ingestion and the scheduler run first.

Linux keeps nice and the scheduling policy per thread; both calls below change only the calling
thread, and the threads it starts later (onnxruntime's and OpenCV's pools) inherit them. Ray's
own gRPC threads in the same process were started before and keep normal priority, so the actor
still answers calls promptly.

Why SCHED_IDLE and not only nice: Ray starts every worker process at nice 15
(RAY_worker_niceness) unless told otherwise, the HTTP ingress included, and these calls only
ever lower priority, so on such a cluster a nice of 10 changes nothing. A SCHED_IDLE thread is
preempted at once by any normal thread whatever its nice, yet gets every otherwise idle cycle,
so throughput on a quiet machine is the same. `ray-ocr up` starts the workers at nice 0
(ray_ocr/serve/direct.py), where the nice values of ClusterSettings hold as written.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger("ray_ocr.cluster")


def lower_priority(nice: int = 0, idle: bool = False) -> str:
    """Lower the calling thread's priority to at least `nice` (an absolute value, so calling it
    again, e.g. once per task in a threaded actor, changes nothing) and, with `idle`, to
    SCHED_IDLE. Returns the resulting priority, as describe_priority() words it."""
    if nice and os.getpriority(os.PRIO_PROCESS, 0) < nice:
        os.setpriority(os.PRIO_PROCESS, 0, nice)  # who=0: this thread, on Linux
    if idle and hasattr(os, "SCHED_IDLE") and os.sched_getscheduler(0) != os.SCHED_IDLE:
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        except OSError as exc:  # a sandbox that forbids it: nice alone still helps
            log.warning("could not set SCHED_IDLE (%s); keeping nice only", exc)
    return describe_priority()


def describe_priority() -> str:
    """This thread's nice and policy, e.g. 'nice=10 policy=SCHED_IDLE'."""
    pol = os.sched_getscheduler(0) if hasattr(os, "sched_getscheduler") else None
    names = {getattr(os, n): n for n in ("SCHED_OTHER", "SCHED_BATCH", "SCHED_IDLE", "SCHED_FIFO", "SCHED_RR") if hasattr(os, n)}
    return f"nice={os.nice(0)} policy={names.get(pol, pol)}"
