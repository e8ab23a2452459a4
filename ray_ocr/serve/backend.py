"""What the endpoints do, free of HTTP: submit, status, evidence, review, keywords, search, stats.

Writes of tasks go through the pipeline (the TaskBuffer owns the queue); reads go straight to
the journal (SQLite, WAL: many readers beside the one writer) and the Parquet store, so a
status poll never waits behind the pipeline. Blocking file and SQLite work runs in threads so
one slow disk call does not stall the replica's event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any

from ray_ocr.config import Settings
from ray_ocr.schemas import TaskState, Verdict, VideoResult, VideoTask, new_video_id
from ray_ocr.serve import ingest
from ray_ocr.serve.errors import ApiError
from ray_ocr.serve.keyword_store import KeywordStore, VersionConflict
from ray_ocr.serve.models import (
    HitOut,
    KeywordsOut,
    ReviewOut,
    ReviewRequest,
    SearchResponse,
    SearchResult,
    SubmitRequest,
    SubmitResponse,
    VideoStatus,
)
from ray_ocr.serve.pipeline_client import PipelineClient, PipelineUnavailable
from ray_ocr.serve.timing import span

log = logging.getLogger("ray_ocr.serve")

# The journal also knows `duplicate`; the API's states are DESIGN.md's five, with the
# duplicate told apart by its verdict.
_API_STATE = {TaskState.DUPLICATE: "done"}


def api_state(state: TaskState) -> str:
    return _API_STATE.get(state, state.value)


class Backend:
    def __init__(self, settings: Settings, data_dir: str | Path, pipeline: PipelineClient, *, seed_keywords: str | Path | None = None):
        from ray_ocr.store.results import ResultStore

        if not settings.serve.api_token:
            raise ValueError("the API needs a token: set RAY_OCR_API_TOKEN (or ServeSettings.api_token)")
        self.settings = settings
        self.cfg = settings.serve
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.pipeline = pipeline
        self.store = ResultStore(self.data_dir)
        self.journal = self.store.journal
        self.keywords = KeywordStore(self.data_dir)
        self.keywords.bootstrap(seed_keywords)
        self.uploads = self.data_dir / "uploads"
        self.evidence_root = (self.data_dir / "evidence").resolve()
        self.started = time.time()
        self.counters = {"submitted": 0, "duplicates": 0, "rejected_requests": 0}

    # ------------------------------------------------------------------ submit
    async def submit_json(self, req: SubmitRequest) -> tuple[int, SubmitResponse]:
        vid = req.video_id or new_video_id()
        md5 = None
        if ingest.is_url(req.uri):
            if not self.cfg.allow_url_fetch:
                raise ApiError(403, "url_fetch_disabled", "this server does not download URLs; upload the file instead")
            # Before a download, not after. A path needs no such look-up: the TaskBuffer
            # refuses a known id itself, and one hop fewer is what keeps a submission cheap.
            await self._check_new_id(vid)
            sp = await ingest.fetch_url(req.uri, self.uploads, self.cfg.max_upload_bytes, self.cfg.fetch_timeout_s, uuid.uuid4().hex)
            uri, md5 = str(sp.path), sp.md5
        elif "://" in req.uri and not req.uri.startswith("file://"):
            raise ApiError(422, "invalid_uri", "uri must be a path, a file:// URI or an http(s) URL")
        else:
            with span("path"):
                uri = str(await asyncio.to_thread(ingest.resolve_allowed_path, req.uri, self.cfg.allowed_roots))
        return await self._enqueue(vid, uri, req.submitted_at, req.metadata, md5, owned_file=md5 is not None)

    async def submit_upload(self, stream: Any, content_type: str) -> tuple[int, SubmitResponse]:
        sp = await ingest.spool_multipart(stream, content_type, self.uploads, self.cfg.max_upload_bytes, uuid.uuid4().hex)
        try:
            f = sp.fields
            try:
                meta = json.loads(f["metadata"]) if f.get("metadata") else {}
                req = SubmitRequest.model_validate({
                    "uri": str(sp.path), "video_id": f.get("video_id") or None,
                    "submitted_at": float(f["submitted_at"]) if f.get("submitted_at") else None, "metadata": meta,
                })
            except (ValueError, TypeError) as exc:
                # pydantic's ValidationError is a ValueError; float()/json errors too.
                msg = str(exc).splitlines()
                raise ApiError(422, "invalid_request", "invalid form fields: " + "; ".join(msg[:3])[:300]) from None
            vid = req.video_id or new_video_id()
            await self._check_new_id(vid)
            return await self._enqueue(vid, req.uri, req.submitted_at, req.metadata, sp.md5, owned_file=True)
        except BaseException:
            sp.path.unlink(missing_ok=True)
            raise

    async def _check_new_id(self, vid: str) -> None:
        with span("journal"):
            known = await asyncio.to_thread(self.journal.get, vid)
        if known is not None:
            raise ApiError(409, "video_id_exists", f"video_id {vid!r} was already submitted (state {api_state(known.state)})")

    async def _enqueue(self, vid: str, uri: str, submitted_at: float | None, metadata: dict[str, Any], md5: str | None, owned_file: bool) -> tuple[int, SubmitResponse]:
        task = VideoTask(video_id=vid, uri=uri, submitted_at=submitted_at if submitted_at is not None else time.time(), metadata=metadata)
        if md5 is not None:
            orig = await asyncio.to_thread(self.journal.by_md5, md5, vid)
            if orig is not None:
                return 200, await asyncio.to_thread(self._record_duplicate, task, md5, orig)
        try:
            with span("pipeline"):
                out = await self.pipeline.submit(task)
        except PipelineUnavailable as exc:
            raise ApiError(503, "pipeline_unavailable", str(exc)) from None
        if out.get("known"):
            raise ApiError(409, "video_id_exists", f"video_id {vid!r} was already submitted (state {out['state']})")
        self.counters["submitted"] += 1
        return 202, SubmitResponse(video_id=vid, state=api_state(TaskState(out["state"])))

    def _record_duplicate(self, task: VideoTask, md5: str, orig: Any) -> SubmitResponse:
        """A byte-identical file already has a verdict: record this one as its duplicate
        without running OCR (the scheduler would reach the same answer after an MD5 pass)."""
        from ray_ocr.cluster.task_buffer import result_of_record

        original = result_of_record(orig)
        hits = list(original.hits) if original else []
        orig_verdict = original.verdict.value if original else (orig.verdict or "unknown")
        res = VideoResult(
            video_id=task.video_id, path=task.uri, md5=md5, verdict=Verdict.DUPLICATE, hits=hits,
            reason=f"same file as {orig.video_id} (verdict {orig_verdict})", duplicate_of=orig.video_id,
        )
        if not self.journal.enqueue(task, md5=md5):
            raise ApiError(409, "video_id_exists", f"video_id {task.video_id!r} was already submitted")
        self.journal.set_state(
            task.video_id, TaskState.DUPLICATE, verdict=Verdict.DUPLICATE.value, reason=res.reason,
            duplicate_of=orig.video_id, md5=md5, payload={"result": res.model_dump(mode="json")},
        )
        try:
            self.store.write_result(res, submitted_at=task.submitted_at)
        except Exception:  # noqa: BLE001 - the journal has the verdict; the Parquet row is a copy
            log.exception("result store write failed for duplicate %s", task.video_id)
        self.counters["duplicates"] += 1
        return SubmitResponse(video_id=task.video_id, state="done", verdict=Verdict.DUPLICATE.value,
                              duplicate_of=orig.video_id, hits=self._hits_out(task.video_id, res))

    # ------------------------------------------------------------------ read
    def _hits_out(self, vid: str, res: VideoResult | None) -> list[HitOut]:
        if res is None:
            return []
        out = []
        for i, h in enumerate(res.hits):
            url = f"/v1/videos/{vid}/evidence/{i}" if h.evidence else None
            out.append(HitOut(keyword=h.keyword, category=h.category, ts=h.ts, text=h.text, frame_index=h.frame_index, evidence=url))
        return out

    def _result(self, vid: str) -> tuple[Any, VideoResult | None]:
        from ray_ocr.cluster.task_buffer import result_of_record

        rec = self.journal.get(vid)
        if rec is None:
            raise ApiError(404, "video_not_found", f"no video with id {vid!r}")
        return rec, result_of_record(rec)

    def _status(self, vid: str) -> VideoStatus:
        rec, res = self._result(vid)
        reviews = self.journal.reviews(vid)
        return VideoStatus(
            video_id=vid, state=api_state(rec.state), verdict=res.verdict.value if res else None,
            hits=self._hits_out(vid, res), timings=res.timings if res else {}, reason=res.reason if res else rec.reason,
            duplicate_of=(res.duplicate_of if res else None) or rec.duplicate_of, md5=(res.md5 if res else None) or rec.md5,
            submitted_at=rec.submitted_at, keyframes=res.keyframes if res else None, ocr_frames=res.ocr_frames if res else None,
            review=ReviewOut(**reviews[-1].model_dump()) if reviews else None,
        )

    async def status(self, vid: str) -> VideoStatus:
        return await asyncio.to_thread(self._status, vid)

    def _evidence(self, vid: str, n: int) -> Path:
        _, res = self._result(vid)
        hits = res.hits if res else []
        if not 0 <= n < len(hits) or not hits[n].evidence:
            raise ApiError(404, "evidence_not_found", f"video {vid!r} has no evidence image {n} ({len(hits)} hit(s))")
        p = Path(os.path.realpath(hits[n].evidence))
        # The path comes from our own journal, but only ever serve files of the evidence tree.
        if not p.is_relative_to(self.evidence_root) or not p.is_file():
            raise ApiError(404, "evidence_not_found", f"evidence image {n} of {vid!r} is missing on the server")
        return p

    async def evidence(self, vid: str, n: int) -> Path:
        return await asyncio.to_thread(self._evidence, vid, n)

    # ------------------------------------------------------------------ review
    def _review(self, vid: str, req: ReviewRequest) -> ReviewOut:
        rec = self.journal.get(vid)
        if rec is None:
            raise ApiError(404, "video_not_found", f"no video with id {vid!r}")
        if rec.state in (TaskState.QUEUED, TaskState.RUNNING):
            raise ApiError(409, "not_finished", f"video {vid!r} is still {rec.state.value}; review it once it has a verdict")
        try:
            r = self.store.record_review(vid, req.decision, req.reviewer.strip(), req.note)
        except KeyError:
            raise ApiError(409, "no_result", f"video {vid!r} has no stored result to review (state {api_state(rec.state)})") from None
        return ReviewOut(**r.model_dump())

    async def review(self, vid: str, req: ReviewRequest) -> ReviewOut:
        return await asyncio.to_thread(self._review, vid, req)

    # ------------------------------------------------------------------ keywords
    async def keywords_get(self) -> KeywordsOut:
        m, text = await asyncio.to_thread(self.keywords.get)
        return KeywordsOut(version=m.version, hash=m.hash, count=m.count, updated_at=m.updated_at, text=text)

    async def keywords_put(self, text: str, expected_version: int | None) -> KeywordsOut:
        from ray_ocr.moderation.keywords import KeywordFileError

        if len(text.encode("utf-8")) > self.cfg.max_keywords_bytes:
            raise ApiError(413, "payload_too_large", f"keyword file exceeds {self.cfg.max_keywords_bytes} bytes")
        before = self.keywords.meta()
        try:
            m = await asyncio.to_thread(self.keywords.put, text, expected_version)
        except KeywordFileError as exc:
            details = [{"line": i.line, "message": i.message} for i in exc.issues[:200]]
            first = "; ".join(f"line {d['line']}: {d['message']}" for d in details[:3])
            raise ApiError(422, "invalid_keywords", f"{len(exc.issues)} problem(s) in the keyword file: {first}", details) from None
        except VersionConflict as exc:
            raise ApiError(409, "version_conflict", str(exc), {"current_version": exc.current}) from None
        applied: bool | None = None
        if before is None or before.version != m.version:
            try:
                applied = await self.pipeline.keywords_changed(self.keywords.current_path)
            except PipelineUnavailable as exc:
                # Stored anyway: the scheduler reads current.txt when it (re)starts.
                log.warning("keyword version %d stored but the pipeline was not told: %s", m.version, exc)
                applied = False
        return KeywordsOut(version=m.version, hash=m.hash, count=m.count, updated_at=m.updated_at, applied=applied)

    # ------------------------------------------------------------------ search
    def _search(self, q: str, limit: int) -> SearchResponse:
        import pyarrow.compute as pc
        import pyarrow.dataset as ds

        d = self.store.dataset("lines")
        flt = pc.match_substring(ds.field("text"), pattern=q, ignore_case=True)
        tbl = d.scanner(columns=["video_id", "frame_index", "ts", "text", "score"], filter=flt).head(limit + 1)
        rows = tbl.to_pylist()
        results = [SearchResult(**{**r, "score": float(r["score"])}) for r in rows[:limit]]
        return SearchResponse(query=q, results=results, truncated=len(rows) > limit)

    async def search(self, q: str, limit: int) -> SearchResponse:
        return await asyncio.to_thread(self._search, q, limit)

    # ------------------------------------------------------------------ stats / health
    async def stats(self) -> dict[str, Any]:
        try:
            st = await self.pipeline.stats()
        except PipelineUnavailable as exc:
            raise ApiError(503, "pipeline_unavailable", str(exc)) from None
        buf = st["buffer"] or {}
        sched = st.get("scheduler") or {}
        counters = sched.get("counters", {})
        verdicts = sched.get("verdicts", {})
        up = float(sched.get("uptime_s") or 0.0)
        finished = sum(verdicts.values())
        return {
            "buffer": {k: buf.get(k) for k in ("depth", "cap", "expired_total", "counts")},
            "pool": {
                "workers": sched.get("pool", {}),
                "target": sched.get("target"),
                "started_total": sched.get("pool_started_total"),
                "lost_total": sched.get("pool_lost_total"),
                "broken": sched.get("workers_broken"),
            },
            "active_videos": sched.get("active", []),
            "throughput": {
                "uptime_s": round(up, 1),
                "videos_finished": finished,
                "videos_per_min": round(60.0 * finished / up, 3) if up > 0 else 0.0,
                "det_frames": counters.get("det_frames", 0),
                "rec_crops": counters.get("rec_crops", 0),
                "det_frames_per_s": round(counters.get("det_frames", 0) / up, 3) if up > 0 else 0.0,
                "verdicts": verdicts,
            },
            "ingress": {"uptime_s": round(time.time() - self.started, 1), "pid": os.getpid(), **self.counters},
        }

    async def health(self) -> dict[str, Any]:
        try:
            await self.pipeline.ping()
        except PipelineUnavailable as exc:
            raise ApiError(503, "pipeline_unavailable", str(exc)) from None
        m = self.keywords.meta()
        return {"status": "ok", "keywords_version": m.version if m else None}
