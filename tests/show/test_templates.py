"""Talking points as sandboxed templates: known variables only, never blank on air."""

from __future__ import annotations

from typing import Any

import pytest

from console.show.templates import SAMPLE_VALUES, VARIABLES, TemplateError, check_template, render

LIVE: dict[str, Any] = {
    **SAMPLE_VALUES,
    "price": "199",
    "stock": 12,
    "top_commenters": ["阿花", "小李", "Tom"],
}


def test_every_variable_has_a_sample_value() -> None:
    assert set(SAMPLE_VALUES) == set(VARIABLES)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("今天只要 {{ price }} 元", "今天只要 199 元"),
        ("只剩 {{ stock }} 件", "只剩 12 件"),
        ("感谢 {{ top_commenters | join('、') }}", "感谢 阿花、小李、Tom"),
        ("{{ top_commenters | length }} 位", "3 位"),
        ("{% if stock < 20 %}快没了{% else %}还多{% endif %}", "快没了"),
        ("{% for name in top_commenters %}[{{ name }}]{% endfor %}", "[阿花][小李][Tom]"),
        ("{{ host | upper }}", "HOST"),
        ("没有变量的一句话", "没有变量的一句话"),
        ("<b>{{ host }}</b>", "<b>Host</b>"),
    ],
)
def test_render_with_live_values(source: str, expected: str) -> None:
    check_template(source)
    assert render(source, LIVE) == expected


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ price.__class__.__init__.__globals__ }}",
        "{{ top_commenters.append('x') }}",
        "{{ top_commenters.pop() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{% for i in range(1000000) %}{% endfor %}",
    ],
)
def test_sandbox_refuses_unsafe_access(source: str) -> None:
    with pytest.raises(TemplateError):
        check_template(source)
    values = {**LIVE, "top_commenters": ["阿花"]}
    assert render(source, values) == source
    assert values["top_commenters"] == ["阿花"]


def test_unsafe_attribute_never_renders_internals() -> None:
    """Not even a partial render: the prompter shows the planner's text as written."""
    source = "价格 {{ price }}，{{ price.__class__.__base__ }}"
    assert render(source, LIVE) == source


def test_template_failing_on_empty_values_is_a_template_error() -> None:
    """Before anyone commented the list is empty; the check says so, the render still works."""
    source = "第一个感谢 {{ top_commenters[0] }}"
    with pytest.raises(TemplateError) as raised:
        check_template(source)
    assert "empty values" in raised.value.message
    assert render(source, LIVE) == "第一个感谢 阿花"
    assert render(source, {**LIVE, "top_commenters": []}) == source


def test_unknown_variable_is_named() -> None:
    with pytest.raises(TemplateError) as raised:
        check_template("立减 {{ discount }} 元")
    assert raised.value.message.startswith("unknown template variable 'discount'")
    assert "price" in raised.value.message


def test_variables_declared_in_the_template_are_not_unknown() -> None:
    check_template("{% set n = stock * 2 %}{{ n }}")
    check_template("{% for name in top_commenters %}{{ name }}{% endfor %}")


def test_syntax_error_carries_its_line_within_the_template() -> None:
    with pytest.raises(TemplateError) as raised:
        check_template("第一行\n{{ price ")
    assert raised.value.message.startswith("template syntax error: ")
    assert raised.value.line == 2


def test_unknown_filter_is_a_template_error() -> None:
    with pytest.raises(TemplateError):
        check_template("{{ price | nosuchfilter }}")


def test_huge_constant_is_a_template_error() -> None:
    with pytest.raises(TemplateError):
        check_template("{{ 10 ** 5000 }}")


def test_failure_on_sample_values_is_a_template_error() -> None:
    with pytest.raises(TemplateError) as raised:
        check_template("{{ stock / 0 }}")
    assert "sample values" in raised.value.message


def test_strict_undefined_missing_value_falls_back_to_source() -> None:
    source = "只剩 {{ stock }} 件"
    assert render(source, {}) == source


def test_strict_undefined_missing_attribute_falls_back_to_source() -> None:
    source = "{{ host.nickname }}"
    assert render(source, LIVE) == source


def test_render_falls_back_when_values_do_not_fit() -> None:
    source = "{{ top_commenters | join('、') }}"
    assert render(source, {**LIVE, "top_commenters": None}) == source
    assert render("{{ stock + 1 }}", {**LIVE, "stock": "x"}) == "{{ stock + 1 }}"


def test_render_of_a_broken_template_returns_its_source() -> None:
    assert render("{{ price ", LIVE) == "{{ price "


def test_text_without_braces_is_returned_as_is() -> None:
    assert render("plain", {}) == "plain"
