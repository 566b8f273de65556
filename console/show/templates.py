"""Talking points as sandboxed Jinja2 templates rendered with live values.

Only the variables in :data:`VARIABLES` exist. A template that does not parse,
names an unknown variable or fails on sample values is a validation error when
the script is checked; on air a template that still fails renders its source
text instead, so the prompter never goes blank. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import jinja2
from jinja2 import meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = ["SAMPLE_VALUES", "VARIABLES", "TemplateError", "check_template", "render"]

VARIABLES: Final[dict[str, str]] = {
    "title": "the show's title",
    "host": "the host's name",
    "product": "the current product's name",
    "price": "live price, formatted (e.g. 199 or 19.90)",
    "anchor_price": "original price, formatted",
    "saving": "anchor minus live price, formatted",
    "stock": "units left in the current sale",
    "sold": "units sold in the current sale",
    "limit": "per-buyer limit of the current sale",
    "online": "viewers online now",
    "peak_online": "peak viewers so far",
    "time_left": "time left in this segment, m:ss",
    "sale_time_left": "time left in the current flash sale, m:ss",
    "top_commenters": "list of the most active commenters' names",
    "benefits": "list of this show's sales so far, one line each",
    "next_show": "the next show's start, formatted",
    "keyword": "the interaction keyword of this segment",
    "prize": "the lottery prize of this segment",
}

SAMPLE_VALUES: Final[dict[str, Any]] = {
    "title": "Show",
    "host": "Host",
    "product": "Product",
    "price": "99",
    "anchor_price": "199",
    "saving": "100",
    "stock": 37,
    "sold": 63,
    "limit": 2,
    "online": 1200,
    "peak_online": 1500,
    "time_left": "3:00",
    "sale_time_left": "1:30",
    "top_commenters": ["A", "B", "C"],
    "benefits": ["Product 99"],
    "next_show": "12-08 20:00",
    "keyword": "1",
    "prize": "Prize",
}

EMPTY_VALUES: Final[dict[str, Any]] = {
    name: ([] if isinstance(value, list) else 0 if isinstance(value, int) else "")
    for name, value in SAMPLE_VALUES.items()
}

_ENV: Final = ImmutableSandboxedEnvironment(
    undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False
)
_CACHE: dict[str, jinja2.Template] = {}


class TemplateError(ValueError):
    """Why a template cannot be used; ``line`` is 1-based within the template."""

    def __init__(self, message: str, line: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def check_template(source: str) -> None:
    """Raise :class:`TemplateError` if ``source`` cannot render on air."""
    try:
        parsed = _ENV.parse(source)
        names = meta.find_undeclared_variables(parsed)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"template syntax error: {exc.message}", exc.lineno) from exc
    except (jinja2.TemplateError, ValueError, RecursionError, MemoryError) as exc:
        raise TemplateError(f"template cannot be compiled: {exc}") from exc
    unknown = sorted(names - set(VARIABLES))
    if unknown:
        raise TemplateError(
            f"unknown template variable {unknown[0]!r}; known: {', '.join(sorted(VARIABLES))}"
        )
    for values, which in ((SAMPLE_VALUES, "sample values"), (EMPTY_VALUES, "empty values")):
        try:
            _template(source).render(values)
        except Exception as exc:
            raise TemplateError(
                f"template fails on {which} (e.g. no commenters yet): {exc}"
            ) from exc


def render(source: str, values: Mapping[str, Any]) -> str:
    """The rendered text, or ``source`` itself if rendering fails."""
    if "{" not in source:
        return source
    try:
        return _template(source).render(values)
    except Exception:
        return source


def _template(source: str) -> jinja2.Template:
    template = _CACHE.get(source)
    if template is None:
        if len(_CACHE) > 4096:
            _CACHE.clear()
        template = _CACHE[source] = _ENV.from_string(source)
    return template
