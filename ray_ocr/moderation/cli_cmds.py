"""`ray-ocr match`: match stdin lines against a keyword file, JSON lines out."""

from __future__ import annotations

import argparse
import json
import sys

from ray_ocr.moderation.keywords import KeywordFileError, KeywordLibrary


def add_match_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "match",
        help="match text lines on stdin against a keyword file",
        description="Reads UTF-8 text lines on stdin and prints one JSON object a line: "
        '{"text", "hits": [{"keyword", "category", "start", "end"}]} (spans in the original text).',
    )
    p.add_argument("--keywords", required=True, metavar="FILE", help="keyword file (see ray_ocr/moderation/keywords.py)")
    p.set_defaults(func=cmd_match)
    return p


def cmd_match(args: argparse.Namespace) -> int:
    try:
        lib = KeywordLibrary.load(args.keywords)
    except KeywordFileError as exc:
        print(f"ray-ocr match: invalid keyword file:\n{exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"ray-ocr match: cannot read keyword file: {exc}", file=sys.stderr)
        return 1
    print(f"ray-ocr match: {len(lib)} keywords, version {lib.version}", file=sys.stderr)
    out = sys.stdout
    for n, raw in enumerate(sys.stdin.buffer, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            print(f"ray-ocr match: stdin line {n} is not UTF-8; undecodable bytes replaced", file=sys.stderr)
            text = raw.decode("utf-8", errors="replace")
        text = text.rstrip("\r\n")
        hits = [h.model_dump() for h in lib.match(text)]
        out.write(json.dumps({"text": text, "hits": hits}, ensure_ascii=False) + "\n")
    out.flush()
    return 0
