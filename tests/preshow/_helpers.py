"""A small show with a pre-show checklist and benefits, starting ``minutes`` from now."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Final

CHECKLIST: Final = (
    ("camera", "摄像头 camera"),
    ("lights", "灯光 lights"),
    ("microphone", "麦克风 microphone"),
    ("network", "网络 network"),
    ("products", "样品上架 products on set"),
    ("prices", "价格核对 prices verified"),
    ("compliance", "合规检查 compliance check passed"),
)


def preshow_script(starts_in_s: float = 3600.0, checklist: bool = True) -> str:
    """The script source; its ``starts_at`` is ``starts_in_s`` from now, at UTC+08:00."""
    zone = dt.timezone(dt.timedelta(hours=8))
    starts = dt.datetime.fromtimestamp(int(time.time() + starts_in_s), zone).isoformat()
    items = "".join(
        f'\n[[checklist]]\nid = "{item}"\nlabel = "{label}"\n' for item, label in CHECKLIST
    )
    return f"""[show]
title = "初禾预热夜 Warm-up <night>"
host = "小鹿"
starts_at = {starts}
currency = "CNY"
benefits = ["直播间下单送旅行装", "前 100 单包邮 free shipping"]
{items if checklist else ""}
[[products]]
id = "serum"
name = "玻尿酸精华 <b>30ml</b>"
anchor_price = 29900
live_price = 15900
stock = 50

[[products]]
id = "cream"
name = "面霜 Cream"
anchor_price = 19900
live_price = 9900
stock = 30

[[segments]]
kind = "opening"
duration_s = 60

[[segments]]
kind = "product"
product = "serum"
duration_s = 120

[[segments]]
kind = "closing"
step = "recap"
duration_s = 30

[[segments]]
kind = "closing"
step = "next_show"
duration_s = 30

[[segments]]
kind = "closing"
step = "thanks"
duration_s = 30
"""


def write_script(directory: Path, starts_in_s: float = 3600.0, checklist: bool = True) -> Path:
    path = directory / "preshow.toml"
    path.write_text(preshow_script(starts_in_s, checklist), encoding="utf-8")
    return path
