"""Load and check a TOML show script, naming the line of every problem.

``load_show`` returns the :class:`~console.show.model.Show` and every
:class:`Issue` found (errors and compliance findings). Pure but for the
optional file read in :func:`load_file`.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Final

from ..compliance import Lexicon, default_lexicon
from ..fans import FanLimit, validate_channel
from ._reader import Checker, Issue, Reader, Severity
from .model import (
    ChecklistItem,
    ClosingStep,
    Faq,
    LotteryEligibility,
    Product,
    SaleSettings,
    Segment,
    SegmentKind,
    Show,
    ShowRules,
    Targets,
)

__all__ = ["MAX_SCRIPT_BYTES", "Issue", "ScriptError", "Severity", "load_file", "load_show"]

MAX_SCRIPT_BYTES: Final = 256 * 1024
_ID: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_TOML_LINE: Final = re.compile(r"at line (\d+)")

Path_ = tuple[str | int, ...]


class ScriptError(ValueError):
    """A script with errors; ``issues`` lists all of them."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__("\n".join(map(str, issues)))
        self.issues = issues


def load_show(
    source: str, file: str = "<script>", lexicon: Lexicon | None = None
) -> tuple[Show | None, list[Issue]]:
    """Parse and check ``source``; the show is ``None`` when there are errors."""
    if len(source.encode()) > MAX_SCRIPT_BYTES:
        return None, [
            Issue(file, 1, Severity.ERROR, f"script larger than {MAX_SCRIPT_BYTES} bytes")
        ]
    try:
        data = tomllib.loads(source)
    except RecursionError:
        return None, [Issue(file, 1, Severity.ERROR, "not valid TOML: nested too deeply")]
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_LINE.search(str(exc))
        return None, [
            Issue(
                file, int(found.group(1)) if found else 1, Severity.ERROR, f"not valid TOML: {exc}"
            )
        ]
    checker = Checker(file, source, lexicon or default_lexicon())
    root = Reader(checker, data, (), {"show", "products", "segments", "checklist"})
    show_table = root.table_at("show")
    if show_table is None:
        checker.error((), None, "missing [show] table")
        show_table = {}
    meta = Reader(
        checker,
        show_table,
        ("show",),
        {
            "title",
            "host",
            "starts_at",
            "currency",
            "targets",
            "rules",
            "next_show_at",
            "room",
            "benefits",
            "channel",
        },
    )
    rules = _rules(checker, meta)
    if rules.extra_banned_words:
        checker.lexicon = checker.lexicon.with_extra(rules.extra_banned_words)
    products = _products(checker, root)
    segments = _segments(checker, root, products)
    benefits = meta.texts("benefits")
    checker.spoken(("show",), "benefits", benefits)
    show = Show(
        title=meta.text("title"),
        host=meta.text("host"),
        starts_at=meta.time("starts_at", required=True) or 0.0,
        currency=_currency(checker, meta),
        products=products,
        segments=segments,
        targets=_targets(checker, meta),
        rules=rules,
        next_show_at=meta.time("next_show_at", required=False),
        utc_offset_s=meta.utc_offset_s("starts_at"),
        source=file,
        checklist=_checklist(checker, root),
        benefits=benefits,
        channel=_channel(checker, meta),
    )
    _check_order(checker, show)
    has_errors = any(issue.severity is Severity.ERROR for issue in checker.issues)
    return (None if has_errors else show), sorted(checker.issues, key=lambda issue: issue.line)


def load_file(path: str | Path, lexicon: Lexicon | None = None) -> Show:
    """Load a script file or raise :class:`ScriptError` listing every error."""
    file = str(path)
    raw = Path(path).read_bytes()
    try:
        source = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScriptError([Issue(file, 1, Severity.ERROR, "script is not UTF-8")]) from exc
    show, issues = load_show(source, file, lexicon)
    if show is None:
        raise ScriptError([issue for issue in issues if issue.severity is Severity.ERROR])
    return show


def _currency(checker: Checker, meta: Reader) -> str:
    currency = meta.text("currency", required=False, default="CNY")
    if not re.fullmatch(r"[A-Z]{3}", currency):
        checker.error(
            ("show",), "currency", f"currency must be a 3-letter code such as CNY, got {currency!r}"
        )
    return currency


def _channel(checker: Checker, meta: Reader) -> str:
    channel = meta.text("channel", required=False)
    if channel:
        try:
            validate_channel(channel)
        except ValueError as exc:
            checker.error(("show",), "channel", str(exc))
            return ""
    return channel


def _targets(checker: Checker, meta: Reader) -> Targets:
    table = meta.table_at("targets") or {}
    reader = Reader(checker, table, ("show", "targets"), {"gmv", "orders", "peak_online"})
    return Targets(
        gmv=reader.integer("gmv", 0, 0) or 0,
        orders=reader.integer("orders", 0, 0) or 0,
        peak_online=reader.integer("peak_online", 0, 0) or 0,
    )


def _rules(checker: Checker, meta: Reader) -> ShowRules:
    table = meta.table_at("rules") or {}
    allowed = {
        "overtime_cue_s",
        "dead_room_online_drop",
        "dead_room_window_s",
        "dead_room_comments_per_min",
        "banned_words",
    }
    reader = Reader(checker, table, ("show", "rules"), allowed)
    defaults = ShowRules()
    drop = reader.number("dead_room_online_drop", 0.0, defaults.dead_room_online_drop)
    if drop is not None and drop >= 1:
        checker.error(
            ("show", "rules"),
            "dead_room_online_drop",
            "dead_room_online_drop is a share below 1, e.g. 0.3",
        )
    return ShowRules(
        overtime_cue_s=reader.number("overtime_cue_s", 0.0, defaults.overtime_cue_s) or 0.0,
        dead_room_online_drop=defaults.dead_room_online_drop if drop is None else drop,
        dead_room_window_s=reader.number("dead_room_window_s", 10.0, defaults.dead_room_window_s)
        or defaults.dead_room_window_s,
        dead_room_comments_per_min=reader.number(
            "dead_room_comments_per_min", 0.0, defaults.dead_room_comments_per_min
        )
        or 0.0,
        extra_banned_words=reader.texts("banned_words"),
    )


def _checklist(checker: Checker, root: Reader) -> tuple[ChecklistItem, ...]:
    items: list[ChecklistItem] = []
    seen: set[str] = set()
    for index, table in enumerate(root.tables("checklist")):
        path = ("checklist", index)
        reader = Reader(checker, table, path, {"id", "label"})
        item_id = reader.text("id")
        if item_id and not _ID.match(item_id):
            checker.error(
                path, "id", f"checklist id {item_id!r} must be lower-case letters, digits, _ or -"
            )
        if item_id in seen:
            checker.error(path, "id", f"duplicate checklist id {item_id!r}")
        seen.add(item_id)
        label = reader.text("label")
        if len(label) > 100:
            checker.error(path, "label", "checklist label is longer than 100 characters")
        items.append(ChecklistItem(item_id, label, checker.locator.line_of(path)))
    return tuple(items)


def _products(checker: Checker, root: Reader) -> dict[str, Product]:
    products: dict[str, Product] = {}
    allowed = {
        "id",
        "name",
        "images",
        "anchor_price",
        "live_price",
        "stock",
        "limit_per_buyer",
        "selling_points",
        "faq",
    }
    for index, table in enumerate(root.tables("products")):
        path: Path_ = ("products", index)
        reader = Reader(checker, table, path, allowed)
        product_id = reader.text("id")
        if product_id and not _ID.match(product_id):
            checker.error(
                path, "id", f"product id {product_id!r} must be lower-case letters, digits, _ or -"
            )
        if product_id in products:
            checker.error(path, "id", f"duplicate product id {product_id!r}")
        anchor = reader.integer("anchor_price", 1)
        live = reader.integer("live_price", 1)
        if anchor is not None and live is not None and live > anchor:
            checker.error(
                path, "live_price", f"live price {live} is above the anchor price {anchor}"
            )
        stock = reader.integer("stock", 0)
        faq = []
        for number, item in enumerate(reader.tables("faq")):
            faq_reader = Reader(checker, item, (*path, "faq", number), {"q", "a"})
            faq_entry = Faq(faq_reader.text("q"), faq_reader.text("a"))
            checker.spoken((*path, "faq", number), "q", (faq_entry.question,))
            checker.spoken((*path, "faq", number), "a", (faq_entry.answer,))
            faq.append(faq_entry)
        selling_points = reader.texts("selling_points")
        checker.spoken(path, "selling_points", selling_points)
        name = reader.text("name")
        checker.spoken(path, "name", (name,))
        products[product_id] = Product(
            id=product_id,
            name=name,
            anchor_price=anchor or 0,
            live_price=live or 0,
            stock=stock or 0,
            limit_per_buyer=reader.integer("limit_per_buyer", 1, 1) or 1,
            images=reader.texts("images"),
            selling_points=selling_points,
            faq=tuple(faq),
        )
    if not products:
        checker.warn((), None, "the show has no [[products]]")
    return products


_SEGMENT_KEYS: Final = {
    "kind",
    "title",
    "duration_s",
    "talking_points",
    "product",
    "sale",
    "urgency_lines",
    "urgency_at",
    "prompt",
    "keyword",
    "window_s",
    "prize",
    "winners",
    "eligibility",
    "fans",
    "step",
}
_SALE_KEYS: Final = {
    "auto_start",
    "duration_s",
    "price",
    "stock",
    "limit_per_buyer",
    "auto_advance_on_sold_out",
    "fans",
}


def _segments(checker: Checker, root: Reader, products: dict[str, Product]) -> tuple[Segment, ...]:
    segments = []
    for index, table in enumerate(root.tables("segments")):
        segment = _segment(
            checker, Reader(checker, table, ("segments", index), _SEGMENT_KEYS), products
        )
        if segment is not None:
            segments.append(segment)
    if not segments:
        checker.error((), None, "the show has no [[segments]]")
    return tuple(segments)


def _segment(checker: Checker, reader: Reader, products: dict[str, Product]) -> Segment | None:
    path = reader.path
    kind = reader.choice("kind", SegmentKind)
    if kind is None:
        return None
    talking_points = reader.texts("talking_points")
    checker.spoken(path, "talking_points", talking_points)
    title = reader.text("title", required=False, default=kind.value)
    checker.spoken(path, "title", (title,))
    fields: dict[str, Any] = {
        "kind": kind,
        "title": title,
        "duration_s": reader.number("duration_s", 1.0) or 60.0,
        "talking_points": talking_points,
        "line": checker.locator.line_of(path),
    }
    if kind is SegmentKind.PRODUCT:
        fields.update(_product_fields(checker, reader, products))
    elif kind is SegmentKind.INTERACTION:
        fields.update(
            prompt=reader.text("prompt"),
            keyword=reader.text("keyword"),
            window_s=reader.number("window_s", 5.0, 60.0) or 60.0,
        )
        checker.spoken(path, "prompt", (fields["prompt"],))
    elif kind is SegmentKind.LOTTERY:
        fields.update(
            prize=reader.text("prize"),
            keyword=reader.text("keyword", required=False),
            winners=reader.integer("winners", 1, 1) or 1,
            window_s=reader.number("window_s", 5.0, 120.0) or 120.0,
            eligibility=reader.choice("eligibility", LotteryEligibility, "comment")
            or LotteryEligibility.COMMENT,
            fans=reader.choice("fans", FanLimit, "all") or FanLimit.ALL,
        )
        checker.spoken(path, "prize", (fields["prize"],))
        if fields["eligibility"] is LotteryEligibility.COMMENT and not fields["keyword"]:
            checker.error(path, None, "a lottery by comment needs a 'keyword'")
    elif kind is SegmentKind.CLOSING:
        fields["step"] = reader.choice("step", ClosingStep)
    return Segment(**fields)


def _product_fields(
    checker: Checker, reader: Reader, products: dict[str, Product]
) -> dict[str, Any]:
    path = reader.path
    product_id = reader.text("product")
    product = products.get(product_id)
    if product_id and product is None:
        checker.error(path, "product", f"unknown product {product_id!r}")
    urgency_lines = reader.texts("urgency_lines")
    checker.spoken(path, "urgency_lines", urgency_lines)
    sale = None
    sale_table = reader.table_at("sale")
    if sale_table is not None:
        sale_reader = Reader(checker, sale_table, (*path, "sale"), _SALE_KEYS)
        sale = SaleSettings(
            auto_start=sale_reader.boolean("auto_start", True),
            duration_s=sale_reader.number("duration_s", 1.0, 300.0) or 300.0,
            price=sale_reader.integer("price", 1, required=False),
            stock=sale_reader.integer("stock", 0, required=False),
            limit_per_buyer=sale_reader.integer("limit_per_buyer", 1, required=False),
            auto_advance_on_sold_out=sale_reader.boolean("auto_advance_on_sold_out", False),
            fans=sale_reader.choice("fans", FanLimit, "all") or FanLimit.ALL,
        )
        if product is not None and sale.price is not None and sale.price > product.anchor_price:
            checker.error(
                (*path, "sale"),
                "price",
                f"sale price {sale.price} is above the anchor price {product.anchor_price}",
            )
    return {
        "product": product_id,
        "sale": sale,
        "urgency_lines": urgency_lines,
        "urgency_at": reader.integer("urgency_at", 0, required=False),
    }


def _check_order(checker: Checker, show: Show) -> None:
    closing = [index for index, segment in enumerate(show.segments) if segment.is_closing]
    if show.segments and not closing:
        last = ("segments", len(show.segments) - 1)
        message = 'missing closing: add closing segments (kind = "closing") at the end'
        checker.error(last, None, message)
        return
    if closing and closing != list(range(closing[0], len(show.segments))):
        first_after = next(
            i for i in range(closing[0], len(show.segments)) if not show.segments[i].is_closing
        )
        checker.error(("segments", first_after), "kind", "closing segments must come last")
    steps = {show.segments[index].step for index in closing}
    for step in (ClosingStep.RECAP, ClosingStep.NEXT_SHOW, ClosingStep.THANKS):
        if closing and step not in steps:
            checker.warn(("segments", closing[0]), None, f"the closing has no {step.value!r} step")
    if ClosingStep.NEXT_SHOW in steps and show.next_show_at is None:
        checker.warn(("show",), None, "a next_show step but no show.next_show_at")
