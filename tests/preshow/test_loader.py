"""The script's [[checklist]] and [show] benefits: loaded, checked, every problem with its line."""

from __future__ import annotations

from console.show import Severity, load_show
from tests.preshow._helpers import CHECKLIST, preshow_script


def test_checklist_and_benefits_load_with_lines() -> None:
    source = preshow_script()
    show, issues = load_show(source, "preshow.toml")
    assert show is not None, issues
    assert [(item.id, item.label) for item in show.checklist] == list(CHECKLIST)
    lines = source.splitlines()
    for item in show.checklist:
        assert lines[item.line - 1] == "[[checklist]]"
        assert lines[item.line] == f'id = "{item.id}"'
    assert show.benefits == ("直播间下单送旅行装", "前 100 单包邮 free shipping")


def test_a_script_without_a_checklist_has_none() -> None:
    show, _ = load_show(preshow_script(checklist=False))
    assert show is not None
    assert show.checklist == ()


def _errors(source: str) -> list[tuple[int, str]]:
    _, issues = load_show(source, "bad.toml")
    return [(i.line, i.message) for i in issues if i.severity is Severity.ERROR]


def test_bad_items_are_errors_on_their_lines() -> None:
    base = preshow_script(checklist=False)
    source = base.replace(
        "\n[[products]]",
        '\n[[checklist]]\nid = "Camera!"\nlabel = "x"\n'
        '\n[[checklist]]\nid = "net"\nlabel = "a"\n'
        '\n[[checklist]]\nid = "net"\nlabel = "b"\ncolour = "red"\n'
        '\n[[checklist]]\nid = "mic"\n'
        "\n[[products]]",
        1,
    )
    lines = source.splitlines()

    def line_of(text: str, after: int = 0) -> int:
        return next(n for n, line in enumerate(lines, 1) if n > after and line == text)

    errors = _errors(source)
    bad_id = line_of('id = "Camera!"')
    second_net = line_of('id = "net"', line_of('id = "net"'))
    assert (bad_id, "checklist id 'Camera!' must be lower-case letters, digits, _ or -") in errors
    assert (second_net, "duplicate checklist id 'net'") in errors
    assert (line_of('colour = "red"'), "unknown key 'colour'") in errors
    mic_header = line_of('id = "mic"') - 1
    assert (mic_header, "missing 'label'") in errors


def test_benefits_are_compliance_checked() -> None:
    source = preshow_script().replace("直播间下单送旅行装", "全网最低价")
    line = next(n for n, text in enumerate(source.splitlines(), 1) if "全网最低价" in text)
    assert any(
        at == line and "全网最低" in message and "极限词" in message
        for at, message in _errors(source)
    )


def test_checklist_must_be_an_array_of_tables() -> None:
    source = 'checklist = "camera"\n' + preshow_script(checklist=False)
    assert (1, "'checklist' must be an array of tables ([[checklist]])") in _errors(source)
