"""The simulated audience on hand-built inputs: deterministic, and it behaves like a crowd."""

from __future__ import annotations

import ast
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from console.show import load_file
from console.simulator import (
    Action,
    Audience,
    AudienceConfig,
    Buy,
    Catalog,
    Comment,
    CommentKind,
    Disrupt,
    Drop,
    Join,
    Leave,
    PublicState,
    SaleView,
    Trouble,
    TroubleKind,
    Waitlist,
    buying_rate,
    is_rehearsal_room,
    parse_troubles,
    public_state,
)

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_800_000_000.0
STEP_S = 0.25
LIVE = PublicState(phase="live", segment=0, kind="opening")


def sale(
    price: int = 15900,
    anchor: int = 29900,
    remaining: int = 500,
    released: int = 500,
    ends_in_s: float = 300.0,
    now: float = T0,
) -> SaleView:
    return SaleView("s1", "serum", price, anchor, released, remaining, 2, True, now + ends_in_s)


def run(
    audience: Audience,
    seconds: float,
    state: Callable[[float], PublicState] | PublicState,
    start: float = T0,
) -> list[tuple[float, Action]]:
    """Step every ``STEP_S`` for ``seconds``; the actions with the time they came out."""
    out: list[tuple[float, Action]] = []
    steps = round(seconds / STEP_S)
    for number in range(1, steps + 1):
        now = start + number * STEP_S
        current = state(now) if callable(state) else state
        out += [(now, action) for action in audience.step(now, current)]
    return out


def crowd(viewers: int = 100, seed: int = 1, **config: object) -> Audience:
    options = AudienceConfig(viewers=viewers, ramp_s=5.0, **config)  # type: ignore[arg-type]
    return Audience(options, random.Random(seed))


def warmed(viewers: int = 100, seed: int = 1, **config: object) -> Audience:
    """An audience that has ramped up (30 s of a live opening)."""
    audience = crowd(viewers, seed, **config)
    run(audience, 30.0, LIVE)
    return audience


def comments(actions: list[tuple[float, Action]], kind: CommentKind | None = None) -> int:
    return sum(
        isinstance(action, Comment) and (kind is None or action.kind is kind)
        for _, action in actions
    )


def buys(actions: list[tuple[float, Action]]) -> int:
    return sum(isinstance(action, Buy) for _, action in actions)


# determinism ----------------------------------------------------------------------------


def show_states(now: float) -> PublicState:
    """An opening, a prompt at +20 s, a product segment with a sale at +40 s."""
    if now < T0 + 20:
        return LIVE
    if now < T0 + 40:
        return PublicState("live", 1, "interaction", prompt_keyword="1", prompt_ends_at=T0 + 50)
    return PublicState("live", 2, "product", "serum", sales=(sale(remaining=50, now=T0 + 40),))


def test_same_seed_and_inputs_give_the_same_actions() -> None:
    troubles = parse_troubles("flood@25:5,drop@45,stampede@50:2")
    first = run(crowd(60, seed=42, troubles=troubles), 60.0, show_states)
    second = run(crowd(60, seed=42, troubles=troubles), 60.0, show_states)
    assert first == second
    assert len(first) > 200
    assert {type(action).__name__ for _, action in first} >= {
        "Join",
        "Comment",
        "Like",
        "Click",
        "Buy",
        "Drop",
    }


def test_another_seed_gives_other_actions() -> None:
    assert run(crowd(60, seed=1), 30.0, show_states) != run(crowd(60, seed=2), 30.0, show_states)


# who is there -----------------------------------------------------------------------


def test_the_audience_ramps_up_and_stays_below_the_pool() -> None:
    audience = crowd(100)
    run(audience, 1.0, LIVE)
    early = audience.online
    run(audience, 30.0, LIVE, start=T0 + 1)
    assert early < 30
    assert 60 <= audience.online <= 100


def test_a_sale_opening_draws_a_surge() -> None:
    audience = warmed(200)
    before = audience.online
    on_sale = PublicState("live", 2, "product", "serum", sales=(sale(now=T0 + 30),))
    run(audience, 15.0, on_sale, start=T0 + 30)
    assert audience.online > before * 1.1


def test_talk_only_segments_lose_viewers() -> None:
    audience = warmed(200)
    before = audience.online
    run(audience, 60.0, PublicState("live", 5, "qa"), start=T0 + 30)
    assert audience.online < before * 0.85


# comments -----------------------------------------------------------------------------


def test_a_prompt_brings_a_keyword_burst() -> None:
    audience = warmed(100)
    quiet = run(audience, 10.0, LIVE, start=T0 + 30)
    prompt = PublicState("live", 1, "interaction", prompt_keyword="1", prompt_ends_at=T0 + 100)
    burst = run(audience, 10.0, prompt, start=T0 + 40)
    answers = [action for _, action in burst if isinstance(action, Comment)]
    keyword = [a for a in answers if a.kind is CommentKind.PROMPT]
    assert len(answers) > 4 * max(1, comments(quiet))
    assert len({answer.viewer for answer in keyword}) > audience.online * 0.4
    assert {answer.text for answer in keyword} <= {"1", "扣1", "111", "11"}
    times = sorted(at for at, a in burst if isinstance(a, Comment) and a.kind is CommentKind.PROMPT)
    assert times[int(0.9 * len(times))] - (T0 + 40) <= 8.0  # nine in ten within 8 s


def test_questions_come_from_the_product_faq() -> None:
    show = load_file(ROOT / "scripts" / "beauty-night.toml")
    config = AudienceConfig(viewers=200, ramp_s=5.0, asker_share=0.9, chatter_share=0.05)
    audience = Audience(config, random.Random(3), Catalog.from_show(show))
    on_air = PublicState("live", 3, "product", "serum")
    asked = [a for _, a in run(audience, 60.0, on_air) if isinstance(a, Comment)]
    questions = [a.text for a in asked if a.kind is CommentKind.QUESTION]
    faq = {faq.question for faq in show.products["serum"].faq}
    assert sum(any(text.endswith(q) for q in faq) for text in questions) > len(questions) / 3


def test_trolls_post_banned_contact_spam() -> None:
    audience = warmed(300, seed=5, troll_share=0.2)
    actions = run(audience, 30.0, LIVE, start=T0 + 30)
    trolls = [a.text for _, a in actions if isinstance(a, Comment) and a.kind is CommentKind.TROLL]
    banned = ("加微信", "vx", "私聊", "代购", "加v", "www.", "骗子")
    assert trolls
    assert all(any(word in text for word in banned) for text in trolls)


def test_english_show_gets_english_comments() -> None:
    audience = warmed(100)
    english = PublicState("live", 0, "opening", currency="USD")
    texts = [
        a.text for _, a in run(audience, 30.0, english, start=T0 + 30) if isinstance(a, Comment)
    ]
    assert texts
    assert not any("\u4e00" <= char <= "\u9fff" for text in texts for char in text)


def test_no_viewer_exceeds_the_comment_budget() -> None:
    audience = warmed(50, troubles=(Trouble(TroubleKind.FLOOD, 30.0, 60.0),))
    actions = run(audience, 60.0, LIVE, start=T0 + 30)
    per_viewer_minute = Counter(a.viewer for _, a in actions if isinstance(a, Comment))
    assert max(per_viewer_minute.values()) <= 18


# buying ---------------------------------------------------------------------------------


def test_buying_rate_rises_with_discount_scarcity_and_countdown() -> None:
    def rate(view: SaleView) -> float:
        return buying_rate(view, T0, on_air=True, every_s=120.0)

    assert rate(sale(price=27000)) < rate(sale(price=20000)) < rate(sale(price=12000))
    assert rate(sale(remaining=500)) < rate(sale(remaining=100)) < rate(sale(remaining=10))
    assert rate(sale(ends_in_s=300)) < rate(sale(ends_in_s=30)) < rate(sale(ends_in_s=5))
    assert rate(sale(ends_in_s=-1)) == 0.0
    assert buying_rate(sale(), T0, on_air=False, every_s=120.0) < rate(sale())


def count_buys(view: Callable[[float], SaleView]) -> int:
    audience = warmed(300, seed=9)
    return buys(
        run(
            audience,
            20.0,
            lambda now: PublicState("live", 2, "product", "serum", sales=(view(now),)),
            start=T0 + 30,
        )
    )


def test_more_buy_at_a_deeper_discount() -> None:
    shallow = count_buys(lambda now: sale(price=26000, ends_in_s=T0 + 600 - now, now=now))
    deep = count_buys(lambda now: sale(price=12000, ends_in_s=T0 + 600 - now, now=now))
    assert deep > 2 * max(1, shallow)


def test_more_buy_as_the_countdown_ends() -> None:
    early = count_buys(lambda now: sale(ends_in_s=T0 + 600 - now, now=now))
    late = count_buys(lambda now: sale(ends_in_s=T0 + 52 - now, now=now))
    assert late > 1.5 * max(1, early)


def test_sold_out_means_waitlist_not_buy() -> None:
    audience = warmed(300)
    gone = PublicState("live", 2, "product", "serum", sales=(sale(price=9000, remaining=0),))
    actions = [action for _, action in run(audience, 30.0, gone, start=T0 + 30)]
    assert not any(isinstance(action, Buy) for action in actions)
    assert any(isinstance(action, Waitlist) for action in actions)


def test_each_press_has_a_fresh_key() -> None:
    audience = warmed(300, troubles=(Trouble(TroubleKind.STAMPEDE, 31.0, 2.0),))
    on_sale = PublicState("live", 2, "product", "serum", sales=(sale(now=T0 + 30),))
    pressed = [a for _, a in run(audience, 5.0, on_sale, start=T0 + 30) if isinstance(a, Buy)]
    assert len({press.key for press in pressed}) == len(pressed)
    assert all(8 <= len(press.key) <= 64 for press in pressed)


# trouble ------------------------------------------------------------------------------------


def test_dead_room_drains_viewers_and_stops_comments() -> None:
    audience = warmed(200, troubles=(Trouble(TroubleKind.DEAD_ROOM, 40.0, 30.0),))
    before = run(audience, 10.0, LIVE, start=T0 + 30)
    online = audience.online
    during = run(audience, 20.0, LIVE, start=T0 + 40)
    assert comments(before) > 5
    assert comments(during) == 0
    assert audience.online < online * 0.3
    after = run(audience, 40.0, LIVE, start=T0 + 60)
    assert audience.online > online * 0.6
    assert comments(after) > 5


def test_flood_multiplies_comments() -> None:
    audience = warmed(100, troubles=(Trouble(TroubleKind.FLOOD, 40.0, 10.0),))
    calm = run(audience, 10.0, LIVE, start=T0 + 30)
    flood = run(audience, 10.0, LIVE, start=T0 + 40)
    assert comments(flood, CommentKind.FLOOD) > 5 * max(1, comments(calm))


def test_stampede_presses_buy_within_a_second() -> None:
    audience = warmed(200, troubles=(Trouble(TroubleKind.STAMPEDE, 40.0, 1.0),))
    on_sale = PublicState("live", 2, "product", "serum", sales=(sale(now=T0 + 30),))
    actions = run(audience, 12.0, on_sale, start=T0 + 30)
    pressed = [at for at, action in actions if isinstance(action, Buy) and at > T0 + 40]
    assert len(pressed) > audience.online * 0.7
    assert max(pressed) - min(pressed) <= 1.0 + 2 * STEP_S


def test_drop_loses_connections_that_come_back_resumed() -> None:
    audience = warmed(100)
    online = audience.online
    audience.inject(TroubleKind.DROP, T0 + 30)
    actions = [action for _, action in run(audience, 10.0, LIVE, start=T0 + 30)]
    dropped = {action.viewer for action in actions if isinstance(action, Drop)}
    resumed = {a.viewer for a in actions if isinstance(a, Join) and a.resume}
    assert len(dropped) == round(0.4 * online)
    assert dropped == resumed
    assert not any(isinstance(a, Leave) and a.viewer in dropped for a in actions)


def test_stage_trouble_comes_out_once_for_the_stage_and_changes_nothing_else() -> None:
    troubles = parse_troubles("flood@25:5,node_restart@30:1.5,redis_outage@45")
    calm = run(crowd(60, seed=42, troubles=parse_troubles("flood@25:5")), 60.0, show_states)
    troubled = run(crowd(60, seed=42, troubles=troubles), 60.0, show_states)
    disrupts = [(at, action) for at, action in troubled if isinstance(action, Disrupt)]
    assert disrupts == [
        (T0 + 30 + STEP_S, Disrupt(TroubleKind.NODE_RESTART, 1.5)),
        (T0 + 45 + STEP_S, Disrupt(TroubleKind.REDIS_OUTAGE, 5.0)),
    ]
    assert [pair for pair in troubled if not isinstance(pair[1], Disrupt)] == calm


def test_stage_trouble_on_demand_leads_the_next_step() -> None:
    audience = warmed(50)
    audience.inject(TroubleKind.NODE_RESTART, T0 + 30)
    first = audience.step(T0 + 30.25, LIVE)
    assert first[0] == Disrupt(TroubleKind.NODE_RESTART, 2.0)
    assert not any(isinstance(action, Disrupt) for action in first[1:])
    assert not any(isinstance(action, Disrupt) for action in audience.step(T0 + 30.5, LIVE))


def test_parse_troubles() -> None:
    assert parse_troubles("dead_room@60, flood@120:15") == (
        Trouble(TroubleKind.DEAD_ROOM, 60.0, 30.0),
        Trouble(TroubleKind.FLOOD, 120.0, 15.0),
    )
    assert parse_troubles("redis_outage@20:2.5,node_restart@10") == (
        Trouble(TroubleKind.NODE_RESTART, 10.0, 2.0),
        Trouble(TroubleKind.REDIS_OUTAGE, 20.0, 2.5),
    )
    assert parse_troubles("") == ()
    for bad in ("earthquake@5", "flood", "flood@x", "flood@-1", "drop@5:0"):
        with pytest.raises(ValueError, match=r"KIND@SECONDS|positive"):
            parse_troubles(bad)


# the viewer's view ------------------------------------------------------------------------------


def test_public_state_from_a_viewers_state_keys() -> None:
    keys = {
        "online": {"now": 3},
        "show": {
            "phase": "live",
            "index": 4,
            "currency": "USD",
            "segment": {"index": 4, "kind": "product", "product": "skillet"},
        },
        "prompt": {"segment": 2, "keyword": "1", "ends_at_ms": 1_800_000_060_000},
        "lottery": {"status": "open", "keyword": "抽奖", "closes_at_ms": 1_800_000_090_000},
        "sale:s9": {
            "sale": "s9",
            "product": "skillet",
            "price": 2999,
            "anchor_price": 4999,
            "released": 300,
            "remaining": 12,
            "limit": 2,
            "status": "open",
            "ends_at_ms": 1_800_000_300_000,
        },
    }
    state = public_state(keys)
    assert (state.phase, state.segment, state.kind, state.product) == (
        "live",
        4,
        "product",
        "skillet",
    )
    assert state.currency == "USD"
    assert state.prompt_keyword == ""  # the prompt belongs to segment 2, not to the one on air
    assert (state.lottery_keyword, state.lottery_ends_at) == ("抽奖", 1_800_000_090.0)
    assert state.sales == (
        SaleView("s9", "skillet", 2999, 4999, 300, 12, 2, True, 1_800_000_300.0),
    )
    assert round(state.sales[0].discount, 2) == 0.4
    assert public_state({}) == PublicState()


def test_rehearsal_rooms() -> None:
    assert is_rehearsal_room("demo")
    assert is_rehearsal_room("rehearsal-monday")
    assert is_rehearsal_room("demo-old")
    assert not is_rehearsal_room("beauty-night")
    assert not is_rehearsal_room("rehearsal")
    assert not is_rehearsal_room("snack-rehearsal-1")


SIMULATOR_MODULES = ["simulator", "_sim_state", "_sim_actions", "_sim_text", "_sim_client"]
IMPURE = frozenset({"asyncio", "time", "socket", "os", "websockets", "httpx", "uvicorn", "redis"})


@pytest.mark.parametrize("name", SIMULATOR_MODULES)
def test_the_simulator_is_pure(name: str) -> None:
    """No I/O, no clock, and no module-level randomness: only the ``random.Random`` given."""
    tree = ast.parse((ROOT / "console" / f"{name}.py").read_text(encoding="utf-8"))
    imported = {
        alias.name.partition(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        (node.module or "").partition(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level == 0
    }
    assert not imported & IMPURE
    uses = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "random"
    }
    assert uses <= {"Random"}
