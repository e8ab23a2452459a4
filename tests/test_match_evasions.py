"""Table-driven evasion tests: every evasion kind has cases that must hit (with their span in
the original text) and near-misses that must not."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ray_ocr.moderation import KeywordLibrary, Moderator, fold
from ray_ocr.moderation.normalize import fold_with_map
from ray_ocr.schemas import TextLine

KEYWORDS = """\
# test library
微信\tad\tpinyin
赌博\tgambling\tpinyin
加群\tad
法轮\tpolitics
!办法轮流
台湾独立\tpolitics
发票\tad
qq\tad
sex\tporn
wechat\tad
line\tad
onlyfans\tporn
110\tscam
"""


@pytest.fixture(scope="module")
def lib() -> KeywordLibrary:
    return KeywordLibrary.from_text(KEYWORDS, "test")


# (kind, text, expected hits as (keyword, original substring[, start when the substring occurs
# earlier too])); [] = a near-miss that must not fire.
CASES: list[tuple[str, str, list[tuple]]] = [
    # width / case
    ("width", "加ＷＥＣＨＡＴ好友", [("wechat", "ＷＥＣＨＡＴ")]),
    ("width", "WeChat联系我", [("wechat", "WeChat")]),
    ("width", "加ｑｑ：12345", [("qq", "ｑｑ")]),
    ("width", "ＳＥＸ视频", [("sex", "ＳＥＸ")]),
    ("width", "wechats", []),  # a longer Latin word
    ("width", "ＱＱＱ", []),
    ("width", "Sussex", []),
    ("width", "Essex郡", []),
    # traditional → simplified
    ("traditional", "微信號碼", [("微信", "微信")]),
    ("traditional", "臺灣獨立萬歲", [("台湾独立", "臺灣獨立")]),
    ("traditional", "代開發票", [("发票", "發票")]),
    ("traditional", "賭博網站", [("赌博", "賭博")]),
    ("traditional", "台灣獨自旅行", []),
    ("traditional", "發標", []),
    ("traditional", "賭場", []),
    # symbols, spaces, emoji, zero-width characters inserted between characters
    ("inserted", "加微@信", [("微信", "微@信")]),
    ("inserted", "微 信 号", [("微信", "微 信")]),
    ("inserted", "微😀信", [("微信", "微😀信")]),
    ("inserted", "法\u200b轮功", [("法轮", "法\u200b轮")]),
    ("inserted", "s.e.x video", [("sex", "s.e.x")]),
    ("inserted", "w-e-c-h-a-t!", [("wechat", "w-e-c-h-a-t")]),
    ("inserted", "微博信息", []),  # a letter between is a different word
    ("inserted", "法国轮胎", []),
    ("inserted", "se.xy", []),  # the x continues into another Latin word
    ("inserted", "微笑😀信任", []),
    # look-alike digits and letters
    ("lookalike", "加LINE", [("line", "LINE")]),
    ("lookalike", "加1ine", [("line", "1ine")]),
    ("lookalike", "加Ｌ𝐈ＮＥ", [("line", "Ｌ𝐈ＮＥ")]),
    ("lookalike", "0nlyfans链接", [("onlyfans", "0nlyfans")]),
    ("lookalike", "ОNLYFАNS", [("onlyfans", "ОNLYFАNS")]),  # Cyrillic О and А
    ("lookalike", "快打①①０", [("110", "①①０")]),
    ("lookalike", "快打llo", [("110", "llo")]),
    ("lookalike", "lime", []),
    ("lookalike", "online", []),  # 'line' inside a word
    ("lookalike", "1101", []),  # a longer number
    ("lookalike", "onlyfan", []),
    ("lookalike", "2ine", []),
    # pinyin initials / full pinyin: opt-in per keyword
    ("pinyin", "加wx123", [("微信", "wx")]),
    ("pinyin", "玩db赢钱", [("赌博", "db")]),
    ("pinyin", "weixin", [("微信", "weixin")]),
    ("pinyin", "加W.X", [("微信", "W.X")]),
    ("pinyin", "fl功", []),  # 法轮 did not opt in
    ("pinyin", "jq", []),  # 加群 did not opt in
    ("pinyin", "wxyz", []),  # initials inside a Latin word
    ("pinyin", "dbs", []),
    # allow-list
    ("allow", "办法轮流值班", []),
    ("allow", "没办法 轮流", []),
    ("allow", "辦法輪流", []),  # traditional form of the allowed phrase
    ("allow", "法轮功", [("法轮", "法轮")]),
    ("allow", "办法轮流，法轮功", [("法轮", "法轮", 5)]),  # only the second 法轮
    ("allow", "法轮流", [("法轮", "法轮")]),  # not the whole allowed phrase
]


@pytest.mark.parametrize("kind,text,expected", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_evasion_table(lib: KeywordLibrary, kind: str, text: str, expected: list[tuple]) -> None:
    hits = lib.match(text)
    got = [(h.keyword, text[h.start : h.end]) for h in hits]
    assert got == [e[:2] for e in expected], f"{kind}: {text!r} gave {got}"
    for h, e in zip(hits, expected):
        start = e[2] if len(e) > 2 else text.index(e[1])
        assert (h.start, h.end) == (start, start + len(e[1]))


def test_each_kind_has_three_hits_and_three_near_misses() -> None:
    kinds = {c[0] for c in CASES}
    for k in kinds:
        pos = sum(1 for c in CASES if c[0] == k and c[2])
        neg = sum(1 for c in CASES if c[0] == k and not c[2])
        assert pos >= 3 and neg >= 3, (k, pos, neg)


# -- across lines of one frame -----------------------------------------------------------

SPLIT_CASES = [
    (["欢迎加微", "信好友"], [("微信", 0, 3, 1, 1)]),
    (["加q", "q号码"], [("qq", 0, 1, 1, 1)]),
    (["臺灣", "獨立"], [("台湾独立", 0, 0, 1, 2)]),
    (["我们", "法", "轮"], [("法轮", 1, 0, 2, 1)]),
    (["加微", "博"], []),
    (["法", "国轮"], []),
    (["办法", "轮流"], []),  # allowed phrase across lines
]


@pytest.mark.parametrize("lines,expected", SPLIT_CASES)
def test_split_across_lines(lib: KeywordLibrary, lines: list[str], expected: list[tuple]) -> None:
    got = [(h.keyword, h.line, h.start, h.end_line, h.end) for h in lib.match_lines(lines)]
    assert got == expected


def test_lines_not_joinable_do_not_combine(lib: KeywordLibrary) -> None:
    assert lib.match_lines(["欢迎加微", "信好友"], joinable=[False]) == []
    assert lib.match_lines(["微信", "x"], joinable=[False])[0].keyword == "微信"  # within-line still found
    with pytest.raises(ValueError):
        lib.match_lines(["a", "b"], joinable=[])


def _box(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def test_moderator_joins_only_geometric_neighbours(lib: KeywordLibrary) -> None:
    mod = Moderator(lib)
    below = [TextLine(text="欢迎加微", score=0.9, box=_box(100, 600, 300, 630)),
             TextLine(text="信好友", score=0.9, box=_box(120, 635, 260, 665))]
    hits = mod.check_frame(below)
    assert [(h.keyword, h.line, h.end_line, h.text) for h in hits] == [("微信", 0, 1, "微信")]
    # Same texts, but a corner watermark and a subtitle: far apart, never one phrase.
    apart = [TextLine(text="欢迎加微", score=0.9, box=_box(10, 10, 200, 40)),
             TextLine(text="信好友", score=0.9, box=_box(500, 600, 640, 630))]
    assert mod.check_frame(apart) == []
    same_row = [TextLine(text="加微", score=0.9, box=_box(100, 600, 160, 630)),
                TextLine(text="信", score=0.9, box=_box(175, 602, 205, 631))]
    assert [h.keyword for h in mod.check_frame(same_row)] == ["微信"]


# -- the fold itself --------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_fold_with_map_agrees_with_fold(text: str) -> None:
    folded, index = fold_with_map(text)
    assert folded == fold(text)
    assert len(index) == len(folded)
    assert index == sorted(index) and all(0 <= i < len(text) for i in index)


JUNK = st.text(alphabet=st.sampled_from(list(" .,@#*-_|/\\~!？。、😀🔥👍\u200b\u3000\ufe0f·•")), min_size=1, max_size=3)


@settings(max_examples=200, deadline=None)
@given(st.lists(JUNK, min_size=1, max_size=1), st.lists(JUNK, min_size=2, max_size=2), st.booleans())
def test_junk_between_characters_still_hits(lib: KeywordLibrary, j1, j2, trad) -> None:
    word = "臺灣獨立" if trad else "台湾独立"
    text = "前" + word[0] + j1[0] + word[1] + j2[0] + word[2] + j2[1] + word[3] + "后"
    hits = lib.match(text)
    assert [h.keyword for h in hits] == ["台湾独立"]
    assert hits[0].start == 1 and hits[0].end == len(text) - 1
