"""Which rules run: the built-ins plus third-party rules from the entry-point group
`nginx_mtls_lint.rules` (a Rule subclass, or a module with a RULES list)."""

from __future__ import annotations

import contextlib
import inspect
import os
import sys
from typing import Any, Callable, Iterator

from .findings import DIAGNOSTICS, SEVERITIES, Diagnostic
from .errors import UsageError
from .rules import RULE_ID, RULE_NAME, Rule, builtin_rules


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """While plugins run: what they print, or write to file descriptor 1 (os.write, a C
    extension), goes to stderr; stdout holds the report (JSON, SARIF)."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
        os.dup2(2, 1)
    except OSError:  # no stdout or stderr to speak of: print() is still redirected
        saved = None
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)

ENTRY_POINT_GROUP = "nginx_mtls_lint.rules"


def _plugin_rules(loaded: Any) -> list[type[Rule]]:
    if inspect.isclass(loaded) and issubclass(loaded, Rule):
        return [loaded]
    return list(getattr(loaded, "RULES", []))


def _may_have_plugins() -> bool:
    """A quick look for our group in installed distributions' entry_points.txt. Importing
    importlib.metadata and asking it costs ~13 ms on every run, most of a small lint; the
    full lookup runs only when a candidate is found (or a sys.path entry is not a folder)."""
    group = ENTRY_POINT_GROUP.encode()
    stdlib = {os.path.dirname(os.__file__), os.path.dirname(os.path.dirname(os.__file__))}
    for entry in sys.path:
        folder = os.path.abspath(entry or ".")
        if folder in stdlib or folder.endswith(("lib-dynload", ".zip")) and \
                os.path.dirname(folder) in stdlib:
            continue  # the standard library ships no distributions
        if os.path.isfile(folder):
            return True  # a zip archive: let importlib.metadata read it
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if name.endswith((".dist-info", ".egg-info")):
                try:
                    with open(os.path.join(folder, name, "entry_points.txt"), "rb") as f:
                        if group in f.read():
                            return True
                except OSError:
                    continue
    return False


def load_rules(import_errors: list[str] | None = None) -> list[type[Rule]]:
    """The built-in and plugin rules. A plugin that fails to import ends the run (exit 2),
    or, with `import_errors`, is recorded there (MTLS909) and skipped. A colliding or
    malformed rule always ends the run."""
    rules = list(builtin_rules())
    taken = {r.id: f"built-in rule {r.id} {r.name}" for r in rules}
    taken.update({d.id: f"built-in diagnostic {d.id} {d.name}" for d in DIAGNOSTICS.values()})
    names = {r.name for r in rules} | {d.name for d in DIAGNOSTICS.values()}
    if not _may_have_plugins():
        return rules
    from importlib.metadata import entry_points

    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        source = f"plugin {entry.name!r} ({entry.value})"
        try:
            with stdout_to_stderr():  # stdout holds the report
                loaded = entry.load()
        except (Exception, SystemExit) as e:  # sys.exit() at import must not end the run
            _refuse(import_errors, f"{source} failed to load: {type(e).__name__}: {e}")
            continue
        for rule in _plugin_rules(loaded):
            if not (inspect.isclass(rule) and issubclass(rule, Rule)):
                raise UsageError(f"{source}: {rule!r} is not a nginx_mtls_lint.rules.Rule")
            if not RULE_ID.match(rule.id) or not RULE_NAME.match(rule.name):
                raise UsageError(f"{source}: rule id {rule.id!r} / name {rule.name!r} must look "
                                 "like ACME001 / kebab-case-name")
            if rule.id in taken or rule.name in names:
                clash = taken.get(rule.id, f"the rule named {rule.name}")
                raise UsageError(f"{source}: rule {rule.id} {rule.name} collides with {clash}; "
                                 "refusing to load it (plugins use their own ID prefix)")
            if rule.severity not in SEVERITIES:
                _refuse(import_errors, f"{source}: rule {rule.id} {rule.name} declares severity "
                        f"{str(rule.severity)[:20]!r}, not one of {', '.join(SEVERITIES)}")
                continue
            dist = getattr(entry, "dist", None)
            rule.origin = f"plugin:{dist.name if dist else entry.name}"
            taken[rule.id] = f"{rule.origin} rule {rule.id}"
            names.add(rule.name)
            rules.append(rule)
    return rules


def _refuse(import_errors: list[str] | None, message: str) -> None:
    """A plugin (or one of its rules) that cannot run: recorded for MTLS909, or, without
    a list to record it in, the end of the run (exit 2)."""
    if import_errors is None:
        raise UsageError(message)
    import_errors.append(message + "; its rules did not run.")


def rule_resolver(rules: list[type[Rule]]) -> Callable[[str], str | None]:
    """ID or name (any case) -> ID, for configuration and suppressions; None if unknown."""
    table = {}
    items: list[type[Rule] | Diagnostic] = [*rules, *DIAGNOSTICS.values()]
    for item in items:
        table[item.id.upper()] = item.id
        table[item.name.lower()] = item.id
    return lambda key: table.get(key.upper()) or table.get(key.lower())
