"""Keyword file validation (with line numbers), versions, hot swap, pickling and the CLI."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ray_ocr.moderation import KeywordFileError, KeywordLibrary, KeywordLibraryHolder, Moderator
from ray_ocr.schemas import TextLine

REPO = Path(__file__).resolve().parent.parent


def issues(text: str) -> list[tuple[int, str]]:
    with pytest.raises(KeywordFileError) as ei:
        KeywordLibrary.from_text(text, "kw.txt")
    return [(i.line, i.message) for i in ei.value.issues]


@pytest.mark.parametrize(
    "text,line,fragment",
    [
        ("# c\n\n@@@ ###\n", 3, "empty after normalisation"),
        ("😀👍\tad\n", 1, "empty after normalisation"),
        ("微信\tad spam\n", 1, "bad category"),
        ("微信\ta/b\n", 1, "bad category"),
        ("微信\tad\tpinyin,fuzzy\n", 1, "unknown flag"),
        ("微信\tad\tpinyin\textra\n", 1, "too many"),
        ("\tad\n", 1, "empty keyword"),
        ("ok\n a \n", 2, "single Latin letter"),
        ("wechat\tad\tpinyin\n", 1, "pinyin flag"),
        ("微信\n# x\n微 信\n", 3, "duplicate keyword"),
        ("wechat\nＷＥＣＨＡＴ\n", 2, "same after normalisation as line 1"),
        ("微信號\n微信号\tad\n", 2, "duplicate keyword"),
        ("!办法轮流\n!辦法輪流\n", 2, "duplicate allow phrase"),
        ("!@@\n", 1, "allow phrase"),
        ("法轮\n!法 轮\n", 2, "would disable it"),
        ("x" * 70 + "\n", 1, "longer than"),
    ],
)
def test_bad_entries_are_reported_with_line_numbers(text: str, line: int, fragment: str) -> None:
    found = issues(text)
    assert any(n == line and fragment in msg for n, msg in found), found


def test_all_problems_reported_at_once_and_message_names_file_and_line() -> None:
    with pytest.raises(KeywordFileError) as ei:
        KeywordLibrary.from_text("好词\n@@\n微信\tbad cat\n好词\n", "lib.txt")
    assert [i.line for i in ei.value.issues] == [2, 3, 4]
    text = str(ei.value)
    assert "lib.txt:2:" in text and "lib.txt:3:" in text and "lib.txt:4:" in text


def test_bad_encoding_names_the_line(tmp_path: Path) -> None:
    p = tmp_path / "kw.txt"
    p.write_bytes("微信\n赌博\n".encode() + b"\xff\xfebad\n")
    with pytest.raises(KeywordFileError) as ei:
        KeywordLibrary.load(p)
    assert ei.value.issues[0].line == 3 and "not UTF-8" in ei.value.issues[0].message
    assert str(p) in str(ei.value)


def test_gbk_file_is_rejected_not_misread(tmp_path: Path) -> None:
    p = tmp_path / "kw.txt"
    p.write_bytes("微信\tad\n".encode("gbk"))
    with pytest.raises(KeywordFileError):
        KeywordLibrary.load(p)


def test_good_file_with_bom_comments_and_crlf(tmp_path: Path) -> None:
    p = tmp_path / "kw.txt"
    p.write_bytes("\ufeff# header\r\n\r\n微信\tad\tpinyin\r\n  赌博 \tgambling\r\n!办法轮流\r\nsex\r\n".encode())
    lib = KeywordLibrary.load(p)
    assert [(e.keyword, e.category, e.line, e.pinyin) for e in lib.entries] == [
        ("微信", "ad", 3, True), ("赌博", "gambling", 4, False), ("sex", "default", 6, False)]
    assert [a.phrase for a in lib.allow] == ["办法轮流"]
    assert len(lib) == 3


def test_empty_library_matches_nothing() -> None:
    lib = KeywordLibrary.from_text("# nothing yet\n")
    assert len(lib) == 0 and lib.match("微信 anything") == [] and lib.match_lines(["a", "b"]) == []


def test_version_is_content_not_layout() -> None:
    a = KeywordLibrary.from_text("微信\tad\n赌博\tgambling\n")
    b = KeywordLibrary.from_text("# reordered, commented\n赌博\tgambling\n\n微信\tad\n")
    c = KeywordLibrary.from_text("微信\tspam\n赌博\tgambling\n")
    assert a.version == b.version != c.version
    assert len(a.version) == 16


def test_pickle_roundtrip_keeps_matching() -> None:
    lib = KeywordLibrary.from_text("微信\tad\tpinyin\n!微信支付\n", "src")
    clone = pickle.loads(pickle.dumps(lib))
    assert clone.version == lib.version and clone.source == "src"
    assert [h.keyword for h in clone.match("加wx")] == ["微信"]
    assert clone.match("用微信支付") == []


def test_moderator_pickles_with_its_library() -> None:
    mod = Moderator(KeywordLibrary.from_text("微信\tad\n"))
    clone = pickle.loads(pickle.dumps(mod))
    assert clone.version == mod.version
    assert [h.keyword for h in clone.check_texts(["加微 信"])] == ["微信"]


def test_hot_swap(tmp_path: Path) -> None:
    holder = KeywordLibraryHolder(KeywordLibrary.from_text("微信\tad\n"))
    mod = Moderator(holder)
    line = [TextLine(text="加微信或QQ", score=0.9, box=[[0, 0], [99, 0], [99, 20], [0, 20]])]
    assert [h.keyword for h in mod.check_frame(line)] == ["微信"]
    v1 = mod.version

    path = tmp_path / "kw.txt"
    path.write_text("qq\tad\n", encoding="utf-8")
    holder.load(path)
    assert [h.keyword for h in mod.check_frame(line)] == ["qq"] and mod.version != v1

    # A bad file is refused and the running library stays.
    before = holder.current
    path.write_text("qq\tad\nqq\tad\n", encoding="utf-8")
    with pytest.raises(KeywordFileError):
        holder.reload_if_changed(path)
    assert holder.current is before

    path.write_text("微信\tad\nqq\tad\n", encoding="utf-8")
    os.utime(path, ns=(1, 1))  # a different mtime for sure
    assert holder.reload_if_changed(path) is True
    assert holder.reload_if_changed(path) is False
    assert sorted(h.keyword for h in mod.check_frame(line)) == ["qq", "微信"]
    with pytest.raises(TypeError):
        holder.swap("not a library")  # type: ignore[arg-type]


def test_swap_while_matching_never_mixes_libraries() -> None:
    """Readers in another thread always see the hits of exactly one of the two libraries."""
    a = KeywordLibrary.from_text("微信\tad\n")
    b = KeywordLibrary.from_text("qq\tad\n赌博\tgambling\n")
    holder = KeywordLibraryHolder(a)
    mod = Moderator(holder)
    texts = ["加微信", "qq群", "赌博"]
    allowed = ({"微信"}, {"qq", "赌博"})
    bad: list[set[str]] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            got = {h.keyword for h in mod.check_texts(texts, [False, False])}
            if got not in allowed:
                bad.append(got)

    t = threading.Thread(target=reader)
    t.start()
    for i in range(2000):
        holder.swap(b if i % 2 == 0 else a)
    stop.set()
    t.join()
    assert bad == []


# -- CLI ---------------------------------------------------------------------------------------


def run_cli(args: list[str], stdin: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ray_ocr.cli", *args], input=stdin.encode(), capture_output=True,
        cwd=REPO, timeout=120,
    )


def test_cli_match(tmp_path: Path) -> None:
    kw = tmp_path / "kw.txt"
    kw.write_text("微信\tad\tpinyin\n法轮\tpolitics\n!办法轮流\n", encoding="utf-8")
    proc = run_cli(["match", "--keywords", str(kw)], "加 微@信 好友\n没办法轮流\n\n加wx\n")
    assert proc.returncode == 0, proc.stderr.decode()
    rows = [json.loads(x) for x in proc.stdout.decode().splitlines()]
    assert rows == [
        {"text": "加 微@信 好友", "hits": [{"keyword": "微信", "category": "ad", "start": 2, "end": 5}]},
        {"text": "没办法轮流", "hits": []},
        {"text": "", "hits": []},
        {"text": "加wx", "hits": [{"keyword": "微信", "category": "ad", "start": 1, "end": 3}]},
    ]


def test_cli_bad_keyword_file_exits_1_with_line(tmp_path: Path) -> None:
    kw = tmp_path / "kw.txt"
    kw.write_text("微信\tad\n\n微 信\tad\n", encoding="utf-8")
    proc = run_cli(["match", "--keywords", str(kw)], "微信\n")
    assert proc.returncode == 1 and proc.stdout == b""
    assert f"{kw}:3:" in proc.stderr.decode()
    missing = run_cli(["match", "--keywords", str(tmp_path / "nope.txt")], "")
    assert missing.returncode == 1 and "cannot read" in missing.stderr.decode()
    usage = run_cli(["match"], "")
    assert usage.returncode == 2
