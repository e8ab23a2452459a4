"""Crash-safe file writes: temp file in the same directory, fsync, rename, fsync the dir.

A reader sees either the old state or the complete new file, never a half-written one.
Temp names start with '.' (pyarrow datasets skip them) and carry host and pid, so a
restarted process can remove the leftovers of a dead writer without touching a live one's.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

TMP_PREFIX = ".tmp-"
STALE_TMP_S = 24 * 3600.0


def _host_tag() -> str:
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def _tmp_path(path: Path) -> Path:
    # .tmp-<pid>-<random>-<host hash>-<final name>
    return path.with_name(f"{TMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}-{_host_tag()}-{path.name}")


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(fileobj)`` on a temp file, then atomically put it at ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_path(path)
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_tmp(root: Path) -> int:
    """Delete temp files left by dead writers under ``root``: same host and pid gone, or
    older than a day (another host's). Returns how many were removed."""
    host = _host_tag()
    now = time.time()
    removed = 0
    for p in root.rglob(f"{TMP_PREFIX}*"):
        parts = p.name[len(TMP_PREFIX) :].split("-", 3)
        owner_pid = int(parts[0]) if len(parts) == 4 and parts[0].isdigit() else None
        owner_host = parts[2] if len(parts) == 4 else None
        try:
            age = now - p.stat().st_mtime
        except FileNotFoundError:
            continue
        dead = owner_pid is not None and owner_host == host and not _pid_alive(owner_pid)
        if dead or age > STALE_TMP_S:
            p.unlink(missing_ok=True)
            removed += 1
    return removed
