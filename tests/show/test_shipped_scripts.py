"""The sample scripts in ``scripts/`` check clean and run from start to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import pytest

from console.cli import main
from console.show.engine import Command, CommandKind, Phase, ShowState, apply
from console.show.loader import load_file
from console.show.views import prompter_view

ROOT: Final = Path(__file__).resolve().parents[2]
SCRIPTS: Final = sorted([*ROOT.glob("scripts/*.toml"), *ROOT.glob("scripts/templates/*.toml")])
LIVE: Final[dict[str, Any]] = {
    "online": 1500,
    "peak_online": 2000,
    "top_commenters": ["阿花", "Tom"],
    "benefits": ["围巾 159"],
    "sale_time_left": 60,
}


def test_there_are_sample_scripts() -> None:
    assert len(SCRIPTS) >= 3


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda path: path.name)
def test_sample_script_checks_without_issues(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(path)]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith(f"{path}: ok: ")


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda path: path.name)
def test_sample_script_runs_with_every_line_rendered(path: Path) -> None:
    show = load_file(path)
    now = show.starts_at
    state = apply(show, ShowState(), Command(CommandKind.START), now).state
    for index in range(len(show.segments)):
        assert state.index == index
        view = prompter_view(show, state, now, LIVE)
        for line in [*view["talking_points"], *view["urgency_lines"], view["prompt"]]:
            assert "{{" not in line, (index, line)
            assert "{%" not in line, (index, line)
        now += show.segments[index].duration_s
        kind = CommandKind.NEXT if index + 1 < len(show.segments) else CommandKind.END
        state = apply(show, state, Command(kind), now).state
    assert state.phase is Phase.ENDED
