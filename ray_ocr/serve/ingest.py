"""Getting a submitted video onto disk safely: allowed-root paths, streamed uploads, URL fetches.

Everything that reaches the pipeline is a regular file that looks like a video container, at
a resolved path: a path under an allowed root (no ``..``, symlinks resolved before the
containment check, so a link cannot escape), or a file this module wrote under
``<data_dir>/uploads`` from a multipart upload or an http(s) download, both streamed with a
byte limit and MD5 computed on the way (the cheap whole-file dedupe key).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

from ray_ocr.serve.errors import ApiError
from ray_ocr.video.decode import VideoError, check_file

SNIFF_BYTES = 512  # what check_file reads to recognise a container
_EXT_OF_CONTAINER = {"mp4": ".mp4", "avi": ".avi", "matroska": ".mkv", "flv": ".flv", "ogg": ".ogv",
                     "asf": ".wmv", "mpeg-ps": ".mpg", "mpeg-ts": ".ts"}
_FIELD_LIMIT = 64 * 1024  # non-file multipart fields (video_id, submitted_at, metadata)
FORM_FIELDS = frozenset({"file", "video_id", "submitted_at", "metadata"})


# ------------------------------------------------------------------------- paths


def _is_within(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def resolve_allowed_path(uri: str, allowed_roots: Sequence[Path]) -> Path:
    """The real path of ``uri`` (a path or file:// URI) if it lies under an allowed root.

    403 ``forbidden_path`` for ``..`` segments, relative paths, or anything (symlinks
    included) that resolves outside every root; 404 ``uri_not_found`` for a missing file
    under a root (only checked after containment, so nothing outside leaks existence).
    """
    raw = uri
    if uri.startswith("file://"):
        parsed = urlparse(uri)
        if parsed.netloc not in ("", "localhost"):
            raise ApiError(403, "forbidden_path", "file:// URIs must name a local path")
        raw = unquote(parsed.path)
    if "\x00" in raw:
        raise ApiError(400, "invalid_uri", "path contains a NUL byte")
    if not allowed_roots:
        raise ApiError(403, "forbidden_path", "submitting server paths is disabled (no allowed roots configured); upload the file instead")
    p = PurePosixPath(raw)
    if not p.is_absolute():
        raise ApiError(403, "forbidden_path", "path must be absolute")
    if ".." in p.parts:
        raise ApiError(403, "forbidden_path", "path must not contain '..'")
    # resolve() follows every symlink; containment is checked on the real path.
    real = Path(os.path.realpath(raw))
    roots = [Path(os.path.realpath(r)) for r in allowed_roots]
    if not any(_is_within(real, r) for r in roots):
        raise ApiError(403, "forbidden_path", "path is outside the allowed roots")
    if not real.exists():
        raise ApiError(404, "uri_not_found", "no such file under the allowed roots")
    check_video_file(real)
    return real


def check_video_file(path: Path) -> str:
    """The container name of a file that looks like a video; ApiError otherwise."""
    try:
        _, container = check_file(path)
    except VideoError as exc:
        if exc.reason == "empty":
            raise ApiError(400, "empty_upload", "the video is empty (0 bytes)") from None
        raise ApiError(400, "invalid_video", f"not a readable video file ({exc.reason})") from None
    if container is None:
        raise ApiError(415, "not_a_video", "the content does not look like a video container (mp4, mkv, avi, ...)")
    return container


# ------------------------------------------------------------------------- spooling


@dataclass
class Spooled:
    path: Path
    size: int
    md5: str
    container: str
    fields: dict[str, str] = field(default_factory=dict)


class Spooler:
    """Writes one incoming file to ``<dir>/<name>.part`` with a byte limit and MD5, checks the
    container once the first bytes are in, and renames it into place when complete. Any
    failure removes the partial file."""

    def __init__(self, directory: Path, limit: int):
        self.dir = directory
        self.limit = limit
        self.dir.mkdir(parents=True, exist_ok=True)
        self.tmp = self.dir / f".{uuid.uuid4().hex}.part"
        self._f = open(self.tmp, "wb")
        self.size = 0
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.container: str | None = None

    def write(self, data: bytes | memoryview) -> None:
        if not data:
            return
        self.size += len(data)
        if self.size > self.limit:
            raise ApiError(413, "payload_too_large", f"upload exceeds the limit of {self.limit} bytes")
        self._f.write(data)
        self.md5.update(data)
        if self.container is None and self.size >= SNIFF_BYTES:
            self._sniff()

    def _sniff(self) -> None:
        self._f.flush()
        self.container = check_video_file(self.tmp)

    def finish(self, stem: str) -> Spooled:
        if self.size == 0:
            raise ApiError(400, "empty_upload", "the upload is empty (0 bytes)")
        if self.container is None:
            self._sniff()
        self._f.close()
        final = self.dir / f"{stem}{_EXT_OF_CONTAINER.get(self.container or '', '.bin')}"
        os.replace(self.tmp, final)
        return Spooled(final, self.size, self.md5.hexdigest(), self.container or "")

    def abort(self) -> None:
        try:
            self._f.close()
        finally:
            self.tmp.unlink(missing_ok=True)


# ------------------------------------------------------------------------- multipart


async def spool_multipart(stream: AsyncIterator[bytes], content_type: str, directory: Path, limit: int, stem: str) -> Spooled:
    """Stream a multipart/form-data body: field ``file`` to disk (limit ``limit`` bytes),
    the small fields into memory. Unknown or repeated fields are rejected (422)."""
    # python-multipart's streaming parser does the RFC 7578 work; we only route its callbacks
    # (Starlette's own form parser spools files without any size limit).
    from python_multipart.multipart import MultipartParser, parse_options_header

    ctype, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise ApiError(415, "unsupported_media_type", "expected multipart/form-data with a boundary")

    spool: Spooler | None = None
    fields: dict[str, str] = {}
    state: dict[str, Any] = {"name": None, "hname": b"", "hval": b"", "headers": {}, "buf": bytearray(), "seen": set()}

    def on_part_begin() -> None:
        state.update(name=None, headers={}, buf=bytearray())

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["hname"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["hval"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["hname"].decode("latin-1").lower()] = state["hval"]
        state["hname"], state["hval"] = b"", b""

    def on_headers_finished() -> None:
        nonlocal spool
        disp = state["headers"].get("content-disposition", b"")
        _, dparams = parse_options_header(disp)
        name = dparams.get(b"name", b"").decode("utf-8", "replace")
        if name not in FORM_FIELDS:
            raise ApiError(422, "invalid_request", f"unknown form field {name[:64]!r} (allowed: {sorted(FORM_FIELDS)})")
        if name in state["seen"]:
            raise ApiError(422, "invalid_request", f"form field {name!r} given more than once")
        state["seen"].add(name)
        state["name"] = name
        if name == "file":
            spool = Spooler(directory, limit)

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["name"] == "file":
            assert spool is not None
            spool.write(memoryview(data)[start:end])
        else:
            state["buf"] += data[start:end]
            if len(state["buf"]) > _FIELD_LIMIT:
                raise ApiError(413, "payload_too_large", f"form field {state['name']!r} exceeds {_FIELD_LIMIT} bytes")

    def on_part_end() -> None:
        if state["name"] not in (None, "file"):
            try:
                fields[state["name"]] = bytes(state["buf"]).decode("utf-8")
            except UnicodeDecodeError:
                raise ApiError(422, "invalid_request", f"form field {state['name']!r} is not UTF-8") from None

    callbacks = {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_headers_finished": on_headers_finished, "on_part_data": on_part_data,
        "on_part_end": on_part_end,
    }
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    try:
        async for chunk in stream:
            if chunk:
                parser.write(chunk)
        parser.finalize()
        if spool is None:
            raise ApiError(422, "invalid_request", "multipart upload needs a 'file' field")
        out = spool.finish(stem)
    except ApiError:
        if spool is not None:
            spool.abort()
        raise
    except Exception as exc:
        if spool is not None:
            spool.abort()
        if type(exc).__name__ in ("MultipartParseError", "FormParserError", "ParseError"):
            raise ApiError(400, "invalid_multipart", f"malformed multipart body: {exc}"[:300]) from None
        if type(exc).__name__ == "ClientDisconnect":
            raise ApiError(400, "client_disconnected", "the client went away before the upload finished") from None
        raise
    out.fields = fields
    return out


# ------------------------------------------------------------------------- URL fetch

_TEXTY = re.compile(r"^(text/|application/(json|xml|javascript|xhtml))", re.I)


async def fetch_url(url: str, directory: Path, limit: int, timeout_s: float, stem: str, max_redirects: int = 3) -> Spooled:
    """Download an http(s) URL into ``directory`` with a byte limit and an overall deadline.

    502 ``fetch_failed`` for network errors and non-2xx answers, 504 ``fetch_timeout`` past
    the deadline, 415 ``not_a_video`` for HTML/JSON/text or bytes that are not a container,
    413 past the limit (stopped at the limit, not after the download).
    """
    import httpx

    spool: Spooler | None = None
    try:
        async with asyncio.timeout(timeout_s):
            async with httpx.AsyncClient(follow_redirects=True, max_redirects=max_redirects, timeout=timeout_s) as client:
                async with client.stream("GET", url) as resp:
                    if resp.url.scheme not in ("http", "https"):
                        raise ApiError(502, "fetch_failed", "redirected to a non-http(s) URL")
                    if resp.status_code >= 400:
                        raise ApiError(502, "fetch_failed", f"the URL answered HTTP {resp.status_code}")
                    ctype = resp.headers.get("content-type", "")
                    if _TEXTY.match(ctype):
                        raise ApiError(415, "not_a_video", f"the URL serves {ctype.split(';')[0]}, not a video")
                    declared = resp.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > limit:
                        raise ApiError(413, "payload_too_large", f"the URL's content ({declared} bytes) exceeds the limit of {limit} bytes")
                    spool = Spooler(directory, limit)
                    async for chunk in resp.aiter_bytes():
                        spool.write(chunk)
                    return spool.finish(stem)
    except ApiError:
        if spool is not None:
            spool.abort()
        raise
    except TimeoutError:
        if spool is not None:
            spool.abort()
        raise ApiError(504, "fetch_timeout", f"downloading the URL took longer than {timeout_s:g} s") from None
    except httpx.HTTPError as exc:
        if spool is not None:
            spool.abort()
        raise ApiError(502, "fetch_failed", f"could not download the URL: {type(exc).__name__}") from None
    except BaseException:
        if spool is not None:
            spool.abort()
        raise


def is_url(uri: str) -> bool:
    return uri.lower().startswith(("http://", "https://"))
