"""Reporters: turn findings (and the model, for `inspect`) into output. No parsing here.

Every format of `lint` is one Reporter: `report(result, out, options)` writes the whole report
of a run on `out`. FORMATS names the module and function of each, imported only when used
(rich alone costs a cold start ~15 ms)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Protocol, TextIO

if TYPE_CHECKING:
    from ..lint import Result


@dataclass(frozen=True, slots=True)
class ReportOptions:
    color: str = "auto"  # console: auto | always | never
    include_suppressed: bool = False  # SARIF leaves suppressed findings out unless asked
    sarif_category: str | None = None


class Reporter(Protocol):
    def __call__(self, result: Result, out: TextIO, options: ReportOptions) -> None: ...


# format -> (module under report/, its Reporter)
FORMATS: dict[str, tuple[str, str]] = {
    "console": ("console", "report"),
    "concise": ("console", "report_concise"),
    "json": ("json_report", "report"),
    "sarif": ("sarif", "report"),
    "github": ("ci_formats", "report_github"),
    "gitlab": ("ci_formats", "report_gitlab"),
}


def reporter(fmt: str) -> Reporter:
    module, name = FORMATS[fmt]
    found: Reporter = getattr(import_module(f"{__name__}.{module}"), name)
    return found
