"""One lint run: loader -> model -> Cloudflare detection -> rules -> suppressions -> findings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

from . import suppressions
from .cloudflare import CloudflareOptions, detect
from .findings import Finding
from .loader import LoadOptions, Tree, Workspace, load_inputs
from .model import Model, build_model
from .registry import rule_resolver
from .rules import Rule, RuleContext, builtin_rules


@dataclass(slots=True)
class LintOptions:
    load: LoadOptions = field(default_factory=LoadOptions)
    cloudflare: CloudflareOptions = field(default_factory=CloudflareOptions)
    context: RuleContext = field(default_factory=RuleContext)
    rules: list[type[Rule]] | None = None  # None: every built-in rule
    levels: dict[str, str] = field(default_factory=dict)  # rule ID -> off|error|warning|note


@dataclass(slots=True)
class Result:
    workspace: Workspace
    model: Model
    findings: list[Finding]
    rules: list[type[Rule]]  # the rules that ran


def analyse(inputs: Iterable[str], options: LintOptions,
            read_stdin: Callable[[], bytes] | None = None) -> tuple[Workspace, Model]:
    workspace = load_inputs(inputs, options.load, read_stdin)
    model = build_model(workspace)
    detect(model, options.context.cas, options.cloudflare)
    return workspace, model


def in_focus(finding: Finding, tree: Tree) -> bool:
    """Findings of a tree loaded for some fragments' sake: only those about the fragments."""
    return tree.focus is None or finding.file in tree.focus or (
        finding.server is not None and finding.server.file in tree.focus)


def lint(inputs: Iterable[str], options: LintOptions,
         read_stdin: Callable[[], bytes] | None = None) -> Result:
    workspace, model = analyse(inputs, options, read_stdin)
    rules = options.rules if options.rules is not None else builtin_rules()
    running = [r for r in rules if options.levels.get(r.id) != "off"]
    findings = list(workspace.findings)
    for rule_class in running:
        rule = rule_class()
        for config in model.configs:
            findings.extend(f for f in rule.check(config, options.context)
                            if in_focus(f, config.tree))
    findings += suppressions.apply(workspace.file_stmts, findings, rule_resolver(rules))
    focus = _focus_files(workspace)
    kept: dict[tuple, Finding] = {}
    for finding in findings:
        level = options.levels.get(finding.rule)
        if level == "off" or (focus is not None and finding.file not in focus
                              and finding.rule.startswith("MTLS90")):
            continue
        if level:
            finding.severity = level
        kept.setdefault((finding.rule, finding.file, finding.line, finding.message), finding)
    return Result(workspace, model, sorted(kept.values(), key=Finding.sort_key), running)


def _focus_files(workspace: Workspace) -> set[str] | None:
    """When every tree was loaded for fragments' sake, the files to report diagnostics on."""
    if not workspace.trees or any(t.focus is None for t in workspace.trees):
        return None
    return set().union(*(t.focus for t in workspace.trees))
