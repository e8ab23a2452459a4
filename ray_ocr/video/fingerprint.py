"""Whole-video fingerprint for re-upload dedupe: MD5 of the file's bytes, streamed.

MD5 is what the production system keyed on (about 28% of uploads are byte-identical
re-uploads); it is not a security boundary here, only an identity.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

CHUNK_BYTES = 1 << 20  # 1 MiB: large enough that hashing runs at disk speed, small enough to ignore


def file_md5(path: str | os.PathLike[str], chunk_bytes: int = CHUNK_BYTES) -> str:
    """Hex MD5 of the file at ``path``, read in ``chunk_bytes`` chunks (never the whole file at once).

    Raises FileNotFoundError / IsADirectoryError / PermissionError like ``open``.
    """
    h = hashlib.md5(usedforsecurity=False)
    buf = bytearray(chunk_bytes)
    view = memoryview(buf)
    with open(Path(path), "rb", buffering=0) as f:
        while n := f.readinto(view):
            h.update(view[:n])
    return h.hexdigest()
