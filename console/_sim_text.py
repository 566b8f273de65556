"""What simulated viewers are called and what they type, in Chinese and English. Pure.

The phrases are what live-commerce chat looks like (greetings, 扣1 bursts,
questions about shipping and returns, short cheers) plus a few troll lines
that the default moderation list holds or hides (加微信, vx, 私聊, 代购, links).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Final

from ._sim_actions import CommentKind

__all__ = ["comment_text", "viewer_name"]

_SURNAMES: Final = "小阿大老"
_SYLLABLES: Final = "鹿梨橙米雪糖鱼桃柚栗豆桔云夏晴树兔芒"
_SUFFIXES: Final = ("", "", "子", "酱", "呀", "猫", "宝", "姐")
_FIRST_NAMES: Final = (
    "Amy", "Ben", "Cara", "Dan", "Eli", "Fay", "Gus", "Hana", "Ivy", "Jay",
    "Kim", "Leo", "Mia", "Nate", "Opal", "Pete", "Rae", "Sam", "Tess", "Vic",
)  # fmt: skip

_ZH: Final[dict[CommentKind, tuple[str, ...]]] = {
    CommentKind.GREETING: (
        "主播好！", "来了来了", "晚上好~", "第一次来直播间", "刚下班，赶上了",
        "姐妹们晚上好", "从短视频点进来的", "蹲到了蹲到了", "打卡", "又来啦",
    ),
    CommentKind.CHATTER: (
        "好看！", "已下单", "冲冲冲", "666", "讲得好细", "等秒杀", "蹲一个福袋",
        "上链接！", "价格可以", "手慢了没抢到", "已拍两件", "回购了", "主播辛苦了",
        "这个颜色好看", "买过，好用", "求返场", "哈哈哈哈",
    ),
    CommentKind.QUESTION: (
        "什么时候发货呀？", "包邮吗？", "能退货吗？", "有没有小样？", "链接在哪里？",
        "还有货吗？", "可以用券吗？", "保质期多久？", "满减怎么算？",
    ),
    CommentKind.TROLL: (
        "加微信领内部价", "vx私聊，便宜一半", "私聊我有低价货源", "代购加v",
        "www.cheap-deal.example 更便宜", "骗子吧这价格",
    ),
    CommentKind.FLOOD: ("666", "1", "哈哈哈哈", "冲", "好好好", "🔥🔥🔥", "来了"),
}  # fmt: skip

_EN: Final[dict[CommentKind, tuple[str, ...]]] = {
    CommentKind.GREETING: (
        "hi from Ohio!", "evening all", "first time here", "just got off work",
        "hello Maya!", "made it!", "hey everyone",
    ),
    CommentKind.CHATTER: (
        "love it", "just ordered", "drop the link!", "that price though", "missed it :(",
        "bought two", "mine arrived last week, great", "waiting for the flash sale",
        "so good", "lol",
    ),
    CommentKind.QUESTION: (
        "does it ship to Canada?", "how long is shipping?", "can I return it?",
        "is there a coupon?", "where is the link?", "still in stock?",
    ),
    CommentKind.TROLL: (
        "vx me for half price", "check www.cheap-deal.example", "scam lol",
        "dm me, I sell it cheaper",
    ),
    CommentKind.FLOOD: ("🔥🔥🔥", "1", "yes", "lol", "go go go", "wow"),
}  # fmt: skip

_ZH_ASK: Final = ("", "", "请问", "主播，", "想问下", "姐妹们，")
_EN_ASK: Final = ("", "", "quick question: ", "hey, ")


def viewer_name(rng: random.Random, index: int, english: bool = False) -> str:
    """A display name: a Chinese nickname, or an English first name with a number."""
    if english:
        return f"{rng.choice(_FIRST_NAMES)}{index % 100}"
    return rng.choice(_SURNAMES) + rng.choice(_SYLLABLES) + rng.choice(_SUFFIXES)


def _question(rng: random.Random, english: bool, faq: Sequence[str], product: str) -> str:
    prefix = rng.choice(_EN_ASK if english else _ZH_ASK)
    if faq and rng.random() < 0.7:
        return prefix + rng.choice(faq)
    if product and rng.random() < 0.3:
        short = product.split(" ")[1] if " " in product and not english else product
        return f"how much is the {short}?" if english else f"{short}多少钱？"
    return prefix + rng.choice((_EN if english else _ZH)[CommentKind.QUESTION])


def _keyword(rng: random.Random, english: bool, keyword: str) -> str:
    if keyword.isdigit() and not english:
        return rng.choice((keyword, keyword, f"扣{keyword}", keyword * 3, f"{keyword}{keyword}"))
    return rng.choice((keyword, keyword, f"{keyword}!", f"{keyword} {keyword}"))


def comment_text(
    rng: random.Random,
    kind: CommentKind,
    english: bool,
    keyword: str = "",
    faq: Sequence[str] = (),
    product: str = "",
) -> str:
    """One comment of ``kind``; ``keyword`` for prompt and lottery answers."""
    if kind in (CommentKind.PROMPT, CommentKind.LOTTERY):
        return _keyword(rng, english, keyword)
    if kind is CommentKind.QUESTION:
        return _question(rng, english, faq, product)
    return rng.choice((_EN if english else _ZH)[kind])
