"""From what the user hands over to a Workspace: nginx.conf files, folders, fragments, an
`nginx -T` dump on standard input, Kubernetes manifests. Each tree is read by a Loader
(loader.py: includes, prefix, path map); this module decides which trees there are, where a
fragment's tree starts, and what becomes of inputs that hold nothing to lint."""

from __future__ import annotations

import os
import re
from typing import Any, Callable, Iterable

from .discovery import CONFIG_DIRS, CheckoutIndex, included_by_pattern, scan_directory
from .findings import Finding, diagnostic
from .identity import repository_root
from .loader import (MAIN_BLOCK, DumpFiles, LoadOptions, Loader, Tree, Workspace, live_tree,
                     split_dump)
from .parser import Stmt, looks_like_nginx
from .paths import inside
from .errors import UsageError
from .reading import DiskFiles, ReadResult, decode_config


def top_level_context(stmts: list[Stmt]) -> str:
    """A file with `http`/`events`/`stream` at top level is a main config; else a fragment."""
    return "main" if any(s.name in ("http", "events", "stream", "mail") for s in stmts) else "http"


def fragment_prefix(path: str, options: LoadOptions) -> str:
    """Where a fragment's relative includes resolve: --prefix, else the nearest ancestor
    folder holding an nginx.conf, else the folder above a sites-*/conf.d folder, else its own."""
    if options.prefix:
        return options.prefix
    folder = os.path.dirname(os.path.abspath(path))
    probe = folder
    while True:
        if os.path.isfile(os.path.join(probe, "nginx.conf")):
            return probe
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if os.path.basename(folder) in CONFIG_DIRS:
        return os.path.dirname(folder)
    return folder


class WorkspaceBuilder:
    def __init__(self, options: LoadOptions):
        self.options = options
        self.workspace = Workspace()
        self.disk = DiskFiles()
        self.loaders: dict[str, Loader] = {}
        self.trees: dict[str, Tree] = {}  # real path of the file a tree starts at -> tree
        # Diagnostics of trees loaded only because a fragment lives in them: reported for the
        # fragment's files only (pre-commit passes the changed files, not the whole tree).
        self.held: dict[str, list[Finding]] = {}
        self.folders: list[str] = []  # the folders given as inputs, absolute
        self.indexes: dict[str, CheckoutIndex] = {}  # a checkout's top -> its files
        self.manifests: Any = None  # kubernetes.Inputs, once a YAML file is handed over

    def add_manifest(self, path: str, explicit: bool) -> bool:
        """A Kubernetes manifest (YAML): read now, rendered with the others in finish()."""
        from . import kubernetes
        if self.manifests is None:
            self.manifests = kubernetes.Inputs(configmap=self.options.ingress_configmap,
                                               classes=self.options.ingress_classes)
        return bool(self.manifests.add(path, self.disk.display(path), explicit))

    def loader_for(self, prefix: str) -> Loader:
        prefix = os.path.abspath(prefix)
        if prefix not in self.loaders:
            checkout = not live_tree(prefix)
            self.loaders[prefix] = Loader(self.disk, self.options, prefix, self.workspace,
                                          checkout=checkout,
                                          index=self.index_for(prefix) if checkout else None)
        return self.loaders[prefix]

    def index_for(self, prefix: str) -> CheckoutIndex:
        """The files of the checkout a prefix is in: its git work tree, else the folder being
        linted, else the prefix."""
        top = repository_root(prefix) or next(
            (f for f in self.folders if inside(f, prefix)), prefix)
        if top not in self.indexes:
            self.indexes[top] = CheckoutIndex(top)
        return self.indexes[top]

    def load_tree(self, path: str, probe: ReadResult, main: bool,
                  focus: set[str] | None = None) -> Tree | None:
        real = self.real(path)
        if main:
            prefix = self.options.prefix or os.path.dirname(os.path.abspath(path))
        else:
            prefix = fragment_prefix(path, self.options)
        loader = self.loader_for(prefix)
        findings, self.workspace.findings = self.workspace.findings, []
        try:
            stmts = loader.load(path, preread=probe)
        finally:
            self.held[real], self.workspace.findings = self.workspace.findings, findings
        reached = loader.closures.get(loader.real(path), set())
        if stmts is None:
            if focus is None:
                self.workspace.findings.extend(self.held.pop(real))
            return None
        tree = Tree(self.disk.display(path), "main" if main else "http", stmts, loader.prefix,
                    loader.resolve_file, focus, reached, loader.elsewhere,
                    "checkout" if loader.checkout else "live")
        self.trees[real] = tree
        if focus is None:
            self.workspace.findings.extend(self.held.pop(real))
        self.workspace.trees.append(tree)
        return tree

    def root_candidates(self, path: str) -> list[str]:
        if self.options.roots is not None:
            return self.options.roots
        folder = os.path.dirname(os.path.abspath(path))
        while True:
            candidate = os.path.join(folder, "nginx.conf")
            if os.path.isfile(candidate):
                return [candidate]
            parent = os.path.dirname(folder)
            if parent == folder:
                return []
            folder = parent

    def real(self, path: str) -> str:
        """The file `path` reads, links followed as the loader of its tree follows them."""
        return self.loader_for(fragment_prefix(path, self.options)).real(path)

    def add_file(self, path: str, discover: bool = True) -> bool:
        """Lint a file (in the tree that includes it); False when it is not nginx at all."""
        real = self.real(path)
        if real in self.trees:
            tree = self.trees[real]
            if tree.focus is not None:  # first loaded for a fragment, now asked for itself
                tree.focus = None
                self.workspace.findings.extend(self.held.pop(real, []))
            return True
        if path.lower().endswith((".yaml", ".yml")) and self.add_manifest(path, True):
            return True
        loader = self.loader_for(fragment_prefix(path, self.options))
        if real in loader.escapes:
            loader.escaped(real, None)
            return True
        probe = self.disk.read(loader.follow(path))
        main = os.path.basename(path) == "nginx.conf" or (
            probe.text is not None and MAIN_BLOCK.search(probe.text) is not None)
        # A file a root includes is nginx whatever it looks like (a broken one is MTLS900
        # there): pre-commit must not pass a conf.d/redis.conf the tree includes.
        if not main and discover and self.options.discover_roots:
            for root in self.root_candidates(path):
                found = self.discovered_tree(root)
                if found is not None and real in found.reached:
                    if found.focus is not None:
                        found.focus.add(self.disk.display(path))
                    return True
        if not main and probe.text is not None and not looks_like_nginx(probe.text) and \
                not included_by_pattern(path, path, self.options.extend_include):
            shown = self.disk.display(path)
            self.workspace.findings.append(diagnostic(
                "MTLS912", shown, None,
                f"{shown} is not nginx configuration (its statements neither end in `;` nor "
                "start with nginx directives); skipped"))
            return False
        self.load_tree(path, probe, main)
        return True

    def discovered_tree(self, root: str) -> Tree | None:
        real = self.real(root)
        if real in self.trees:
            return self.trees[real]
        probe = self.disk.read(root)
        return self.load_tree(root, probe, True, focus=set())

    def finish(self) -> Workspace:
        if self.manifests is not None:
            from . import kubernetes
            kubernetes.to_workspace(self.manifests, self.workspace)
            if not self.workspace.trees and self.manifests.manifests.templates and \
                    not self.manifests.manifests.objects:  # nothing but Helm templates
                raise UsageError(next(m for _, _, code, m in self.manifests.manifests.problems
                                      if code == "MTLS916"))
        for real, tree in self.trees.items():
            if tree.focus is not None:
                self.workspace.findings.extend(
                    f for f in self.held.pop(real, []) if f.file in tree.focus)
        return self.workspace

    def add_directory(self, folder: str) -> bool:
        """Lint every tree below `folder`; False when it holds no nginx configuration."""
        self.folders.append(os.path.abspath(folder))
        unlisted: list[str] = []
        roots, others = scan_directory(folder, self.options.extend_include, unlisted)
        for each in unlisted:
            shown = self.disk.display(each)
            self.workspace.findings.append(diagnostic(
                "MTLS904", shown, None,
                f"cannot list {shown} (permission denied); the files it holds were not analysed"))
        linted = bool(unlisted)
        for root in roots:
            linted |= self.add_file(root)
        reached = {real for tree in self.trees.values() for real in tree.reached}
        for path in others:
            if self.real(path) not in reached:
                linted |= self.add_file(path, discover=False)
        from .kubernetes import manifest_files
        for path in manifest_files(folder):
            linted |= self.add_manifest(path, False)
        return linted

    def add_dump(self, text: str) -> None:
        files = split_dump(text)
        self.workspace.dump_texts.update(files)
        first = re.search(r"^# configuration file ", text, re.MULTILINE)
        self.workspace.dump_preamble += text[:first.start() if first else 0]
        if not files:
            raise UsageError("standard input holds no '# configuration file PATH:' markers; "
                             "pipe the output of `nginx -T` into the linter")
        root = next(iter(files))
        prefix = self.options.prefix or os.path.dirname(root)
        loader = Loader(DumpFiles(files), self.options, prefix, self.workspace,
                        map_includes=False)
        stmts = loader.load(root)
        if stmts is None:
            return
        disk_loader = self.loader_for(prefix)  # certificates are read from disk, mapped
        # A dump is live for the files that exist here; one piped from another host is not:
        # its CA files are "not available here" rather than missing.
        disk_loader.checkout = not os.path.exists(root)
        self.workspace.trees.append(
            Tree(root, top_level_context(stmts), stmts, prefix, disk_loader.resolve_file,
                 elsewhere=disk_loader.elsewhere, origin="dump"))


def _templates_hint(folder: str) -> str:
    """What to run when the folder's nginx configuration is kept as templates."""
    from .discovery import templates_like_nginx

    found, patterns = templates_like_nginx(folder)
    if not found:
        return ""
    shown = ", ".join(os.path.relpath(p, folder) for p in found)
    flags = " ".join(f"--extend-include '{p}'" for p in patterns)
    return f"; templates that read as nginx: {shown}: lint them with {flags}"


def load_inputs(inputs: Iterable[str], options: LoadOptions,
                read_stdin: Callable[[], bytes] | None = None) -> Workspace:
    builder = WorkspaceBuilder(options)
    problems: list[tuple[str, str]] = []  # (input, why nothing was linted there)
    quiet: list[str] = []  # folders holding no nginx configuration
    inputs = list(inputs)
    for item in inputs:
        if item == "-":
            data = read_stdin() if read_stdin else b""
            decoded = decode_config(data)
            if decoded.text is None:
                raise UsageError(f"standard input: {decoded.problem}")
            builder.add_dump(decoded.text)
        elif os.path.isdir(item):
            if not builder.add_directory(item):
                quiet.append(item)  # a data folder a shell glob reached, when others linted
        elif os.path.lexists(item):
            builder.add_file(item)
        else:
            problems.append((item, f"{item}: no such file or directory"))
    if inputs and len(problems) + len(quiet) == len(inputs):  # nothing to lint: a wrong
        raise UsageError(problems[0][1] if problems else  # path must not pass CI
                         f"no nginx configuration found under {quiet[0]}"
                         + _templates_hint(quiet[0]))
    for item, problem in problems:  # the other inputs were linted
        builder.workspace.findings.append(diagnostic("MTLS913", item, None, problem))
    return builder.finish()
