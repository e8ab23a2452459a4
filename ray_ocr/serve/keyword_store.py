"""Versioned keyword library in the data dir: what `GET|PUT /v1/keywords` read and write.

Layout under ``<data_dir>/keywords/``::

    v000001.txt ...   every accepted version, immutable
    current.txt       the live library: the file the Scheduler is started with and reloads
    current.json      {"version", "hash", "file", "updated_at", "count"} of the live one

A PUT validates the whole text first (line-numbered errors, nothing changes on error), then
writes the new version file, then replaces current.txt and current.json atomically, under an
flock so replicas of the ingress on one node cannot interleave two updates.
"""

from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from ray_ocr.moderation.keywords import KeywordLibrary
from ray_ocr.store.atomic import atomic_write_bytes


@dataclass(frozen=True)
class KeywordVersion:
    version: int
    hash: str  # KeywordLibrary.version: content hash of the canonical entries
    count: int
    updated_at: float
    file: str


class VersionConflict(Exception):
    def __init__(self, expected: int, current: int):
        super().__init__(f"expected version {expected}, the current version is {current}")
        self.expected = expected
        self.current = current


class KeywordStore:
    def __init__(self, data_dir: str | Path):
        self.dir = Path(data_dir) / "keywords"
        self.dir.mkdir(parents=True, exist_ok=True)

    @property
    def current_path(self) -> Path:
        return self.dir / "current.txt"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.dir / ".lock", "a+b") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def meta(self) -> KeywordVersion | None:
        try:
            d = json.loads((self.dir / "current.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return KeywordVersion(**d)

    def get(self) -> tuple[KeywordVersion, str]:
        """The live version and its text (read from the immutable version file, so the two
        always agree even during a concurrent PUT)."""
        m = self.meta()
        if m is None:
            m = self.bootstrap()
        return m, (self.dir / m.file).read_text(encoding="utf-8")

    def bootstrap(self, seed: str | Path | None = None) -> KeywordVersion:
        """Make sure a live version exists: version 1 from ``seed`` (a keyword file) or empty.
        A seed that differs from the live library becomes a new version."""
        if seed is None:
            m = self.meta()
            if m is not None and self.current_path.is_file():
                return m
            return self.put(self.get_text(m) if m else "", only_if_changed=True)
        return self.put(Path(seed).read_text(encoding="utf-8"), only_if_changed=True)

    def get_text(self, m: KeywordVersion) -> str:
        return (self.dir / m.file).read_text(encoding="utf-8")

    def put(self, text: str, expected_version: int | None = None, only_if_changed: bool = True) -> KeywordVersion:
        """Validate and install ``text`` as the next version. Raises KeywordFileError (with
        every issue and its line) or VersionConflict; on either nothing changes."""
        lib = KeywordLibrary.from_text(text, source="keywords")
        with self._locked():
            cur = self.meta()
            if expected_version is not None and (cur.version if cur else 0) != expected_version:
                raise VersionConflict(expected_version, cur.version if cur else 0)
            if cur is not None and only_if_changed and cur.hash == lib.version and self.current_path.is_file():
                return cur
            n = (cur.version if cur else 0) + 1
            name = f"v{n:06d}.txt"
            data = text.encode("utf-8")
            atomic_write_bytes(self.dir / name, data)
            atomic_write_bytes(self.current_path, data)
            meta = KeywordVersion(n, lib.version, len(lib), time.time(), name)
            atomic_write_bytes(self.dir / "current.json", json.dumps(asdict(meta)).encode())
            return meta

    def versions(self) -> list[int]:
        return sorted(int(p.stem[1:]) for p in self.dir.glob("v*.txt") if p.stem[1:].isdigit())
