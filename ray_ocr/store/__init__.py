"""Results (Parquet datasets), the task journal and reviews (SQLite); crash-safe writes."""

from ray_ocr.store.atomic import atomic_write, atomic_write_bytes
from ray_ocr.store.journal import ReviewRecord, TaskJournal, TaskRecord
from ray_ocr.store.results import FrameText, ResultItem, ResultStore

__all__ = [
    "FrameText", "ResultItem", "ResultStore", "ReviewRecord", "TaskJournal", "TaskRecord",
    "atomic_write", "atomic_write_bytes",
]
