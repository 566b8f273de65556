"""Lotteries as a pure core: a reproducible draw, the entrants' digest, the seed's hash."""

from __future__ import annotations

import hashlib
import random

import pytest

from console.lottery import Eligibility, Lottery, LotteryStatus, draw, entrants_digest
from console.lotterydesk import LotteryDesk

ENTRANTS = [f"user-{number:03d}" for number in range(200)]


def lottery(seed: int = 7, winners: int = 3) -> Lottery:
    return Lottery(
        id="lot-1",
        prize="体验装礼盒",
        winners=winners,
        eligibility=Eligibility.COMMENT,
        keyword="美妆夜",
        opened_at=1000.0,
        closes_at=1120.0,
        seed=seed,
    )


def test_the_same_seed_and_entrants_give_the_same_winners() -> None:
    assert draw(ENTRANTS, 10, 424242) == draw(list(ENTRANTS), 10, 424242)


@pytest.mark.parametrize("shuffle_seed", range(5))
def test_the_draw_does_not_depend_on_the_entrants_order(shuffle_seed: int) -> None:
    shuffled = list(ENTRANTS)
    random.Random(shuffle_seed).shuffle(shuffled)
    assert draw(shuffled, 10, 99) == draw(ENTRANTS, 10, 99)


def test_entering_twice_changes_nothing() -> None:
    doubled = ENTRANTS + ENTRANTS[:50]
    assert draw(doubled, 10, 5) == draw(ENTRANTS, 10, 5)


def test_different_seeds_give_different_draws() -> None:
    draws = {tuple(draw(ENTRANTS, 5, seed)) for seed in range(20)}
    assert len(draws) == 20


@pytest.mark.parametrize("seed", [0, 1, 2**61, 2**62 - 1])
def test_nobody_wins_twice_and_every_winner_entered(seed: int) -> None:
    winners = draw(ENTRANTS + ENTRANTS, 150, seed)
    assert len(winners) == 150
    assert len(set(winners)) == 150
    assert set(winners) <= set(ENTRANTS)


def test_fewer_entrants_than_prizes_all_win() -> None:
    assert sorted(draw(["b", "a", "b"], 5, 1)) == ["a", "b"]
    assert draw([], 3, 1) == []


def test_the_draw_spreads_over_the_entrants() -> None:
    won = {winner for seed in range(200) for winner in draw(ENTRANTS, 1, seed)}
    assert len(won) > 100


def test_the_entrants_digest_is_sha256_of_the_sorted_ids() -> None:
    expected = hashlib.sha256("\n".join(sorted(ENTRANTS)).encode()).hexdigest()
    reversed_order = list(reversed(ENTRANTS))
    assert entrants_digest(reversed_order) == expected
    assert entrants_digest(ENTRANTS) == expected
    assert entrants_digest(ENTRANTS[:-1]) != expected


def test_the_published_view_shows_only_the_seeds_hash_until_the_draw() -> None:
    opened = lottery(seed=123456789)
    before = LotteryDesk._public(opened, entrants=4)
    assert before["seed_sha256"] == hashlib.sha256(b"123456789").hexdigest()
    assert "seed" not in before
    assert "winners" not in before
    after = LotteryDesk._public(opened.drawn(), entrants=4, winners=["小鹿"])
    assert after["seed"] == 123456789
    assert hashlib.sha256(str(after["seed"]).encode()).hexdigest() == before["seed_sha256"]
    assert after["status"] == "drawn"
    assert after["winners"] == ["小鹿"]


def test_a_lottery_accepts_entries_only_while_open_and_before_it_closes() -> None:
    opened = lottery()
    assert opened.accepts(1119.9)
    assert not opened.accepts(1120.0)
    assert not opened.drawn().accepts(1000.0)


def test_a_lottery_survives_its_stored_form() -> None:
    opened = lottery()
    data = opened.to_dict()
    assert data["eligibility"] == "comment"
    assert data["status"] == "open"
    assert Lottery.from_dict(data) == opened
    assert Lottery.from_dict(opened.drawn().to_dict()).status is LotteryStatus.DRAWN
