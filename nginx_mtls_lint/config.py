"""The configuration file: `.nginx-mtls-lint.yaml` or `[tool.nginx-mtls-lint]` in pyproject.toml.

Found upward from the working directory (nearest wins) unless `--config FILE` names one.
Every error names the file, the line and the offending key, and exits 2.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, NoReturn

from .loader import UsageError, read_user_file
from .paths import absolute, normal_path

YAML_NAMES = (".nginx-mtls-lint.yaml", ".nginx-mtls-lint.yml")
SEVERITY_VALUES = ("error", "warning", "note")
FINGERPRINT = re.compile(r"^[0-9A-Fa-f]{2}(:?[0-9A-Fa-f]{2}){31}$")


class ConfigError(UsageError):
    pass


@dataclass(slots=True)
class FileConfig:
    """What a configuration file says; None = not set there."""

    path: str | None = None
    fail_on: str | None = None
    rules: dict[str, str] = field(default_factory=dict)  # rule ID -> off|error|warning|note
    until: dict[str, dt.date] = field(default_factory=dict)  # rule ID -> `off until=` date
    cloudflare_hosts: list[str] | None = None
    cloudflare_exclude: list[str] | None = None
    assume_cloudflare: bool | None = None
    expected_cas: list[tuple[str, frozenset[str]]] | None = None
    expiry_warning_days: int | None = None
    crl_warning_hours: int | None = None
    prefix: str | None = None
    path_map: list[tuple[str, str]] | None = None
    roots: list[str] | None = None
    select: list[str] | None = None  # rule IDs or names, as written (resolved by the CLI)
    infer_paths: bool | None = None
    extend_include: list[str] | None = None  # more file patterns that are nginx configuration
    ignore: list[str] | None = None
    nginx_version: object = None  # versions.Target, from `nginx-version:`
    ingress_configmap: str | None = None  # kubernetes: ingress-configmap: NAMESPACE/NAME
    ingress_classes: dict[str, str] | None = None  # kubernetes: ingress-class: {CLASS: CONTROLLER}


def normalise_fingerprint(text: str) -> str | None:
    text = str(text).strip()
    return text.replace(":", "").upper() if FINGERPRINT.match(text) else None


ROLLOUT = re.compile(r"^off\s+until\s*=\s*(\S+)$")
Keys = tuple[Any, ...]  # a path of keys into the document

# --ingress-class CLASS=CONTROLLER, `kubernetes: ingress-class:`: the controllers rendered
# (short name or IngressClass spec.controller; kubernetes.CONTROLLERS maps them)
INGRESS_CONTROLLERS = ("ingress-nginx", "k8s.io/ingress-nginx", "nginx-ingress",
                       "nginx.org/ingress-controller")
CONFIGMAP_REF = re.compile(r"^(?:[a-z0-9]([-a-z0-9]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def ingress_class_error(klass: str, controller: str) -> str | None:
    """Why CLASS=CONTROLLER cannot be used, or None."""
    if not klass:
        return "the class is empty (a class name, or * for Ingresses that name no controller)"
    if controller not in INGRESS_CONTROLLERS:
        return f"unknown controller {controller!r} (one of {', '.join(INGRESS_CONTROLLERS)})"
    return None


def configmap_error(ref: str) -> str | None:
    return None if CONFIGMAP_REF.match(ref) else \
        f"expected NAMESPACE/NAME (or NAME) of a ConfigMap, got {ref!r}"


class _Reader:
    """Checks one parsed document against the schema, with a line for every key."""

    def __init__(self, path: str, line_of: Callable[[Keys], int | None],
                 resolve_rule: Callable[[str], str | None]):
        self.path, self.line_of, self.resolve_rule = path, line_of, resolve_rule
        self.base = os.path.dirname(os.path.abspath(path))

    def fail(self, keys: Keys, message: str) -> NoReturn:
        line = self.line_of(keys)
        where = f"{self.path}:{line}" if line else self.path
        raise ConfigError(f"{where}: {'.'.join(map(str, keys))}: {message}")

    def expect(self, keys: Keys, value: Any, kind: type, what: str) -> Any:
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.fail(keys, f"expected {what}, got {type(value).__name__}")
        return value

    def strings(self, keys: Keys, value: Any) -> list[str]:
        self.expect(keys, value, list, "a list of strings")
        for item in value:
            self.expect(keys, item, str, "a list of strings")
        return list(value)

    def path_value(self, keys: Keys, value: Any) -> str:
        return os.path.normpath(os.path.join(self.base, self.expect(keys, value, str, "a path")))

    def rule_level(self, config: FileConfig, key: str, rule: Any, level: Any) -> None:
        """`RULE: level` under `rules:`; `off until=YYYY-MM-DD` is a staged rollout."""
        rule_id = self.resolve_rule(str(rule))
        if rule_id is None:
            self.fail((key, rule), "unknown rule ID or name (`nginx-mtls-lint rules` lists them)")
        if level is False:
            level = "off"  # YAML reads a bare `off` as false
        rollout = ROLLOUT.match(str(level))
        if rollout:  # a deadline: suppressed until then, errors after
            try:
                config.until[str(rule_id)] = dt.date.fromisoformat(rollout[1])
            except ValueError:
                self.fail((key, rule), "expected off until=YYYY-MM-DD")
            return
        if level not in ("off", *SEVERITY_VALUES):
            self.fail((key, rule), "expected off, error, warning or note (or "
                      "off until=YYYY-MM-DD)")
        config.rules[str(rule_id)] = level

    def read(self, data: Any) -> FileConfig:
        config = FileConfig(path=self.path)
        if data is None:
            return config
        self.expect((), data, dict, "a mapping of settings")
        for key, value in data.items():
            keys = (key,)
            if key == "fail-on":
                if value not in SEVERITY_VALUES:
                    self.fail(keys, f"expected one of {', '.join(SEVERITY_VALUES)}")
                config.fail_on = value
            elif key == "rules":
                for rule, level in self.expect(keys, value, dict, "a mapping RULE: level").items():
                    self.rule_level(config, key, rule, level)
            elif key == "cloudflare":
                for sub, item in self.expect(keys, value, dict, "a mapping").items():
                    if sub == "hosts":
                        config.cloudflare_hosts = self.strings((key, sub), item)
                    elif sub == "exclude-hosts":
                        config.cloudflare_exclude = self.strings((key, sub), item)
                    elif sub == "assume":
                        config.assume_cloudflare = self.expect((key, sub), item, bool,
                                                               "true or false")
                    else:
                        self.fail((key, sub), "unknown key (hosts, exclude-hosts, assume)")
            elif key == "expected-cas":
                config.expected_cas = []
                for pattern, prints in self.expect(keys, value, dict,
                                                   "a mapping HOST_PATTERN: [SHA256, ...]").items():
                    prints = [prints] if isinstance(prints, str) else prints
                    normalised = [normalise_fingerprint(p) for p in
                                  self.strings((key, pattern), prints)]
                    if None in normalised or not normalised:
                        self.fail((key, pattern), "expected SHA-256 fingerprints (64 hex digits)")
                    config.expected_cas.append(
                        (str(pattern), frozenset(p for p in normalised if p is not None)))
            elif key == "expiry-warning-days":
                config.expiry_warning_days = self.expect(keys, value, int, "a whole number")
            elif key == "crl-warning-hours":
                config.crl_warning_hours = self.expect(keys, value, int, "a whole number")
            elif key == "prefix":
                config.prefix = self.path_value(keys, value)
            elif key == "path-map":
                config.path_map = []
                for source, target in self.expect(keys, value, dict, "a mapping /ABS: DIR").items():
                    if not absolute(str(source)):
                        self.fail((key, source), "the source must be an absolute path")
                    config.path_map.append((normal_path(str(source)).rstrip("/") or "/",
                                            self.path_value((key, source), target)))
            elif key == "roots":
                config.roots = [self.path_value(keys, v) for v in self.strings(keys, value)]
            elif key == "nginx-version":
                from .versions import VersionError, parse_target

                try:
                    config.nginx_version = parse_target(
                        str(value), f"nginx-version: in {self.path}")
                except VersionError as e:
                    self.fail(keys, str(e))
            elif key == "kubernetes":
                self.kubernetes(config, self.expect(keys, value, dict, "a mapping"))
            elif key == "infer-paths":
                config.infer_paths = self.expect(keys, value, bool, "true or false")
            elif key == "extend-include":
                config.extend_include = self.strings(keys, value)
            elif key in ("select", "ignore"):
                items = [v.strip() for v in value.split(",") if v.strip()] \
                    if isinstance(value, str) else self.strings(keys, value)
                for item in items:
                    if self.resolve_rule(item) is None:
                        self.fail(keys, f"unknown rule ID or name {item!r} "
                                  "(`nginx-mtls-lint rules` lists them)")
                setattr(config, key, [i for i in items if i])
            else:
                self.fail(keys, "unknown key (fail-on, rules, cloudflare, expected-cas, "
                          "expiry-warning-days, crl-warning-hours, prefix, path-map, "
                          "infer-paths, extend-include, roots, select, ignore, "
                          "nginx-version, kubernetes)")
        return config

    def kubernetes(self, config: FileConfig, value: dict[str, Any]) -> None:
        for sub, item in value.items():
            keys = ("kubernetes", sub)
            if sub == "ingress-configmap":
                problem = configmap_error(str(self.expect(keys, item, str, "NAMESPACE/NAME")))
                if problem:
                    self.fail(keys, problem)
                config.ingress_configmap = item
            elif sub == "ingress-class":
                config.ingress_classes = {}
                for klass, controller in self.expect(keys, item, dict,
                                                     "a mapping CLASS: CONTROLLER").items():
                    problem = ingress_class_error(str(klass), str(controller))
                    if problem:
                        self.fail((*keys, klass), problem)
                    config.ingress_classes[str(klass)] = str(controller)
            else:
                self.fail(keys, "unknown key (ingress-configmap, ingress-class)")


def _yaml_lines(text: str) -> tuple[Any, Callable[[Keys], int | None]]:
    import yaml

    # Aliases (`*name`) are refused before anything is built: nothing in this file needs
    # them, and nine-way aliased mappings nested eight deep (750 bytes) expand to 6 GiB.
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            raise yaml.MarkedYAMLError(
                problem=f"the alias *{event.anchor} (YAML anchors and aliases are not "
                "supported in this file: write each value out)",
                problem_mark=event.start_mark)  # type: ignore[arg-type]
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    lines: dict[Keys, int] = {}

    def index(n: Any, keys: Keys) -> None:
        if isinstance(n, yaml.MappingNode):
            for key_node, value_node in n.value:
                path = keys + (key_node.value,)
                lines[path] = key_node.start_mark.line + 1
                index(value_node, path)

    if node is not None:
        index(node, ())
    data = yaml.safe_load(text)
    return data, lambda keys: lines.get(tuple(str(k) for k in keys)) or lines.get(keys[:1])


def _toml_lines(text: str) -> tuple[Any, Callable[[Keys], int | None]]:
    try:
        import tomllib  # type: ignore[import-not-found,unused-ignore]
    except ModuleNotFoundError:  # Python 3.10: the same parser, published as tomli
        import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]

    document = tomllib.loads(text)
    data = document.get("tool", {}).get("nginx-mtls-lint")
    table = text.find("[tool.nginx-mtls-lint")

    def line_of(keys: Keys) -> int | None:
        # tomllib keeps no positions: find the key's first appearance after the table header.
        for key in reversed(keys):
            found = re.search(rf'^\s*"?{re.escape(str(key))}"?\s*=', text[max(table, 0):],
                              re.MULTILINE)
            if found:
                return text.count("\n", 0, max(table, 0) + found.start()) + 1
        return text.count("\n", 0, max(table, 0)) + 1 if table >= 0 else None

    return data, line_of


def load_config(path: str, resolve_rule: Callable[[str], str | None]) -> FileConfig:
    try:
        text = read_user_file(path, 1 << 20, "the configuration file")
    except UsageError as e:
        raise ConfigError(str(e)) from None
    try:
        data, line_of = (_toml_lines if path.endswith(".toml") else _yaml_lines)(text)
    except Exception as e:  # yaml.YAMLError, tomllib.TOMLDecodeError: both carry a position
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else path
        raise ConfigError(f"{where}: not valid {'TOML' if path.endswith('.toml') else 'YAML'}: "
                          f"{getattr(e, 'problem', None) or e}") from None
    return _Reader(path, line_of, resolve_rule).read(data)


def find_config(start: str) -> str | None:
    """The nearest .nginx-mtls-lint.yaml, or pyproject.toml with our table, upward."""
    folder = os.path.abspath(start)
    while True:
        for name in YAML_NAMES:
            candidate = os.path.join(folder, name)
            if os.path.isfile(candidate):
                return candidate
        pyproject = os.path.join(folder, "pyproject.toml")
        if os.path.isfile(pyproject):
            try:
                with open(pyproject, encoding="utf-8") as f:
                    if "[tool.nginx-mtls-lint" in f.read(1 << 20):
                        return pyproject
            except (OSError, UnicodeDecodeError):
                pass
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent
