"""One lint run: loader -> model -> Cloudflare detection -> rules -> sorted findings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

from .cafile import CAStore
from .cloudflare import CloudflareOptions, detect
from .findings import Finding
from .loader import LoadOptions, Workspace, load_inputs
from .model import Model, build_model
from .rules import Rule, RuleContext, builtin_rules


@dataclass(slots=True)
class LintOptions:
    load: LoadOptions = field(default_factory=LoadOptions)
    cloudflare: CloudflareOptions = field(default_factory=CloudflareOptions)
    context: RuleContext = field(default_factory=RuleContext)
    rules: list[type[Rule]] | None = None  # None: every built-in rule


@dataclass(slots=True)
class Result:
    workspace: Workspace
    model: Model
    findings: list[Finding]


def analyse(inputs: Iterable[str], options: LintOptions,
            read_stdin: Callable[[], bytes] | None = None) -> tuple[Workspace, Model]:
    workspace = load_inputs(inputs, options.load, read_stdin)
    model = build_model(workspace)
    detect(model, options.context.cas, options.cloudflare)
    return workspace, model


def lint(inputs: Iterable[str], options: LintOptions,
         read_stdin: Callable[[], bytes] | None = None) -> Result:
    workspace, model = analyse(inputs, options, read_stdin)
    findings = list(workspace.findings)
    for rule_class in options.rules if options.rules is not None else builtin_rules():
        rule = rule_class()
        for config in model.configs:
            findings.extend(rule.check(config, options.context))
    unique: dict[tuple, Finding] = {}
    for finding in findings:
        unique.setdefault((finding.rule, finding.file, finding.line, finding.message), finding)
    return Result(workspace, model, sorted(unique.values(), key=Finding.sort_key))
