"""cluster.yaml and Ray-autoscaler scale-up.

The AutoscalingCluster test starts a fake multi-node cluster; its start/shutdown run
`ray stop --force`, which kills EVERY Ray process on the machine. It is `serial` and `slow`:
run it alone (`pytest -m serial tests/test_cluster_autoscale.py`), never beside other Ray tests.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
import yaml

from ray_ocr.config import ClusterSettings, Settings

ROOT = Path(__file__).resolve().parent.parent


def test_cluster_yaml_is_a_complete_autoscaler_config():
    cfg = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    assert cfg["provider"]["type"] in {"aws", "local", "gcp", "azure"}
    types = cfg["available_node_types"]
    assert cfg["head_node_type"] in types
    workers = [t for name, t in types.items() if name != cfg["head_node_type"]]
    assert workers and all(t["max_workers"] >= t["min_workers"] >= 0 for t in workers)
    assert all(t["resources"]["CPU"] >= 1 for t in workers)  # OCR workers are placed by CPU demand
    assert cfg["idle_timeout_minutes"] > 0 and cfg["max_workers"] >= max(t["max_workers"] for t in workers)
    assert any("ray start --head" in c for c in cfg["head_start_ray_commands"])
    assert any("autoscaling-config" in c for c in cfg["head_start_ray_commands"])


def test_cluster_yaml_starts_every_node_with_the_ingress_flags_ray_ocr_up_uses():
    from ray_ocr.config import ServeSettings
    from ray_ocr.serve.direct import ray_env

    cfg = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    # Behind a real load balancer the drain period stays at Serve's default; the rest must match.
    want = {k: v for k, v in ray_env(ServeSettings()).items() if "DRAINING" not in k}
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        start = next(c for c in cfg[key] if "ray start" in c)
        assert all(f"{k}={v}" in start for k, v in want.items()), (key, start)


def fake_autoscaling_cluster(head_resources: dict, worker_node_types: dict, **config):
    """ray.cluster_utils.AutoscalingCluster with its base config spelled out.

    AutoscalingCluster reads its base config from ray/autoscaler/_private/fake_multi_node/
    example.yaml, which the Ray 2.60 wheel does not ship (FileNotFoundError on a clean install),
    so the fake-multinode provider's config is built here instead.
    """
    from ray.cluster_utils import AutoscalingCluster

    class _Cluster(AutoscalingCluster):
        def _generate_config(self, head_resources, worker_node_types, autoscaler_v2=False, **kw):
            types = dict(worker_node_types)
            types["ray.head.default"] = {"resources": head_resources, "node_config": {}, "max_workers": 0}
            cfg = {
                "cluster_name": "ray-ocr-fake",
                "max_workers": sum(t.get("max_workers", 0) for t in worker_node_types.values()),
                "provider": {
                    "type": "fake_multinode",
                    "use_node_id_as_ip": True,
                    "disable_node_updaters": True,
                    "disable_launch_config_check": True,
                },
                "available_node_types": types,
                "head_node_type": "ray.head.default",
                "auth": {},
                "docker": {},
                "upscaling_speed": 1.0,
                "idle_timeout_minutes": 1,
                "file_mounts": {},
                "cluster_synced_files": [],
                "file_mounts_sync_continuously": False,
                "rsync_exclude": [],
                "rsync_filter": [],
                **{k: [] for k in ("initialization_commands", "setup_commands", "head_setup_commands",
                                   "worker_setup_commands", "head_start_ray_commands", "worker_start_ray_commands")},
            }
            cfg.update(kw)
            return cfg

    return _Cluster(head_resources, worker_node_types, **config)


@pytest.mark.serial
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_pool_growing_past_one_node_becomes_demand_and_scales_up(tmp_path):
    import ray

    from ray_ocr.cluster.run import collect, start_pipeline, submit
    from ray_ocr.training.synth_video import make_sample_set

    paths = make_sample_set(tmp_path / "videos", 4, seed=3, banned=["赌博网站"], duration_s=20)
    kw = tmp_path / "kw.txt"
    kw.write_text("赌博网站\tgambling\n", encoding="utf-8")
    # AutoscalingCluster shells out to `ray`; use this venv's.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    cluster = fake_autoscaling_cluster(
        head_resources={"CPU": 1},
        worker_node_types={
            "ocr_cpu": {"resources": {"CPU": 2}, "node_config": {}, "min_workers": 0, "max_workers": 2},
        },
        idle_timeout_minutes=1,
    )
    cluster.start()
    try:
        ray.init("auto", namespace="ray-ocr-autoscale-test", log_to_driver=False)
        assert ray.cluster_resources().get("CPU") == 1
        # One node holds one worker; the pool may grow to 4, which only more nodes can place.
        settings = Settings(cluster=ClusterSettings(workers_min=1, workers_max=4, target_drain_s=1.0))
        pipe = start_pipeline(tmp_path / "out", kw, settings, name="t-autoscale")
        tasks = submit(pipe, paths)
        deadline = time.monotonic() + 300
        grew = False
        while time.monotonic() < deadline:
            alive = [n for n in ray.nodes() if n["Alive"]]
            ready = ray.get(pipe.scheduler.stats.remote())["pool"]
            if len(alive) > 1 and ready["idle"] + ready["busy"] > 1:
                grew = True
                break
            time.sleep(1.0)
        assert grew, "pending OCR workers did not make the autoscaler add a node"
        assert ray.cluster_resources().get("CPU", 0) > 1
        results = {r.video_id: r for r in collect(pipe, [t.video_id for t in tasks], timeout_s=300)}
        verdicts = [results[t.video_id].verdict.value for t in tasks]
        assert verdicts == ["reject", "pass", "reject", "pass"]  # even samples carry the banned phrase
        pipe.stop()
    finally:
        ray.shutdown()
        cluster.shutdown()
