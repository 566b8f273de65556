"""``livecon check``: one ``FILE:LINE: SEVERITY: MESSAGE`` line per issue, exit 1 on errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.cli import main
from tests.show._scripts import (
    CLOSING,
    RUN_OF_SHOW,
    line_of,
    product_segment,
    script,
    segment,
)


def write(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / name
    path.write_text(source, encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    code = main(["check", *argv])
    return code, capsys.readouterr().out.splitlines()


def test_clean_script_exits_zero_with_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "good.toml", RUN_OF_SHOW)
    code, lines = run(capsys, str(path))
    assert code == 0
    assert lines == [f"{path}: ok: 8 segments, 2 products, 8 min planned"]


def test_errors_print_file_line_and_exit_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = script(
        segment("opening", body='talking_points = ["全网最低价"]'), product_segment("hat")
    )
    path = write(tmp_path, "bad.toml", source)
    code, lines = run(capsys, str(path))
    assert code == 1
    assert len(lines) == 2
    assert lines[0].startswith(f"{path}:{line_of(source, '全网最低价')}: error: ")
    assert lines[0].endswith("'全网最低' in '全网最低价'")
    assert "极限词" in lines[0]
    assert lines[1] == f"{path}:{line_of(source, 'product = ')}: error: unknown product 'hat'"


def test_warnings_alone_exit_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    closing = '[[segments]]\nkind = "closing"\nduration_s = 60\nstep = "recap"\n'
    path = write(tmp_path, "warn.toml", script(segment("opening"), closing=closing))
    code, lines = run(capsys, str(path))
    assert code == 0
    assert [line.split(": ", 2)[1] for line in lines[:-1]] == ["warning", "warning"]
    assert lines[-1].startswith(f"{path}: ok: 2 segments")


def test_every_file_is_checked_and_any_error_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write(tmp_path, "a.toml", RUN_OF_SHOW)
    bad = write(tmp_path, "b.toml", script(segment("opening"), closing=""))
    code, lines = run(capsys, str(good), str(bad))
    assert code == 1
    assert lines[0].startswith(f"{good}: ok:")
    assert lines[1].startswith(f"{bad}:")
    assert ": error: missing closing" in lines[1]
    assert len(lines) == 2


def test_banned_adds_comma_separated_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = script(segment("opening", body='talking_points = ["宇宙无敌", "性价比之王"]'))
    path = write(tmp_path, "show.toml", source)
    assert run(capsys, str(path))[0] == 0
    code, lines = run(capsys, "--banned", " 宇宙无敌 , 之王,", str(path))
    assert code == 1
    assert [line.split(": ")[0] for line in lines] == [
        f"{path}:{line_of(source, '宇宙无敌')}",
        f"{path}:{line_of(source, '宇宙无敌')}",
    ]
    assert "'宇宙无敌'" in lines[0]
    assert "'之王'" in lines[1]


def test_banned_words_add_to_the_scripts_own_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--banned`` and ``[show.rules] banned_words`` both apply."""
    header_rules = '\n[show.rules]\nbanned_words = ["之王"]\n'
    source = script(segment("opening", body='talking_points = ["宇宙无敌", "性价比之王"]'))
    source = source.replace("[[products]]", header_rules + "\n[[products]]", 1)
    path = write(tmp_path, "show.toml", source)
    code, lines = run(capsys, "--banned", "宇宙无敌", str(path))
    assert code == 1
    assert sorted(line.rsplit("'", 4)[1] for line in lines) == ["之王", "宇宙无敌"]


def test_non_utf8_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "gbk.toml"
    path.write_bytes(RUN_OF_SHOW.encode("gbk"))
    code, lines = run(capsys, str(path))
    assert code == 1
    assert len(lines) == 1
    assert lines[0].startswith(f"{path}:1: error: cannot read the script: ")
    assert "utf-8" in lines[0]


def test_missing_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nowhere.toml"
    code, lines = run(capsys, str(path))
    assert code == 1
    assert lines[0].startswith(f"{path}:1: error: cannot read the script: ")


def test_invalid_toml_names_the_parsers_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = RUN_OF_SHOW.replace(CLOSING.splitlines()[1], 'kind = "closing', 1)
    path = write(tmp_path, "broken.toml", source)
    code, lines = run(capsys, str(path))
    assert code == 1
    assert len(lines) == 1
    line = line_of(source, 'kind = "closing', 1)
    assert lines[0].startswith(f"{path}:{line}: error: not valid TOML")


def test_script_that_crashes_the_template_checker_still_gets_a_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = script(segment("opening", body='talking_points = ["{{ price | nosuchfilter }}"]'))
    path = write(tmp_path, "filter.toml", source)
    code, lines = run(capsys, str(path))
    assert code == 1
    assert lines[0].startswith(f"{path}:{line_of(source, 'nosuchfilter')}: error: ")


def test_check_needs_a_script(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["check"])
    assert raised.value.code == 2
    assert "SCRIPT" in capsys.readouterr().err
