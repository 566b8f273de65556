"""Show scripts (run-of-show): the model, the loader and checker, the engine."""

from __future__ import annotations

from .loader import MAX_SCRIPT_BYTES, Issue, ScriptError, Severity, load_file, load_show
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

__all__ = [
    "MAX_SCRIPT_BYTES",
    "ChecklistItem",
    "ClosingStep",
    "Faq",
    "Issue",
    "LotteryEligibility",
    "Product",
    "SaleSettings",
    "ScriptError",
    "Segment",
    "SegmentKind",
    "Severity",
    "Show",
    "ShowRules",
    "Targets",
    "load_file",
    "load_show",
]
