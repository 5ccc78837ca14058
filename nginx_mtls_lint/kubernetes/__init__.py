"""Kubernetes manifests: what an nginx-based ingress controller renders from them, linted as
nginx configuration, every finding placed on the manifest line that caused it.

Flow: YAML files -> objects (objects.py) -> one rendered configuration per controller
(ingress_nginx.py) -> loader.Tree -> the same model, analysis and rules as nginx files ->
findings re-worded for the manifest (findings.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..parser import Stmt
from ..versions import Target

if TYPE_CHECKING:
    from ..loader import Workspace
from .objects import KUSTOMIZATION_NAMES, Manifests, Obj, kustomization_namespaces, looks_like_manifest, read_objects
from .render import FileStore, Origin, to_text
from . import gateway, ingress_nginx, nic

YAML_SUFFIXES = (".yaml", ".yml")
RULE_MTLS002 = "verify-client-not-on"
# id(rendered statements) -> the rendering: rules reach a tree's manifests through it.
RENDERED: dict[int, "Rendering"] = {}
MAX_MANIFEST_BYTES = 8 << 20
# What --ingress-class accepts for a controller: the short names and IngressClass
# spec.controller values of the controllers rendered here.
CONTROLLERS = {"ingress-nginx": "ingress-nginx", ingress_nginx.CONTROLLER: "ingress-nginx",
               "nginx-ingress": "nginx-ingress", "nginx.org/ingress-controller": "nginx-ingress"}
ANY_CLASS = "*"  # --ingress-class *=CONTROLLER: Ingresses the manifests assign to no controller


def is_yaml(path: str) -> bool:
    return path.lower().endswith(YAML_SUFFIXES)


@dataclass(slots=True)
class Rendering:
    """One controller's configuration rendered from the manifests."""

    controller: str
    release: str
    nginx_version: str
    patched: tuple[str, ...]  # CVE fixes the controller's nginx build carries
    root: str  # display path of the first manifest it comes from
    stmts: list[Stmt]
    store: FileStore
    origins: dict[tuple[str, int], Origin] = field(default_factory=dict)
    notes: list[tuple[str, int, str]] = field(default_factory=list)
    renderer: object = None

    @property
    def text(self) -> str:
        return to_text(self.stmts)


@dataclass(slots=True)
class Inputs:
    """Every manifest file handed over (or found in folders), read into objects."""

    manifests: Manifests = field(default_factory=Manifests)
    seen: set[str] = field(default_factory=set)
    namespaces: dict[str, str] = field(default_factory=dict)  # real path -> kustomize namespace
    folders: set[str] = field(default_factory=set)
    renderings: list[Rendering] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)  # display path -> text read
    # What the manifests may not say (--ingress-configmap, --ingress-class, or `kubernetes:`
    # in the configuration file): the controller's ConfigMap as NAMESPACE/NAME (or NAME),
    # and class name (or ANY_CLASS) -> controller (a key of CONTROLLERS).
    configmap: str | None = None
    classes: dict[str, str] = field(default_factory=dict)

    def add(self, path: str, display: str, explicit: bool) -> bool:
        """Read one YAML file; False when it holds nothing of Kubernetes' we read."""
        real = os.path.realpath(path)
        if real in self.seen:
            return True
        self.seen.add(real)
        folder = os.path.dirname(real)
        if folder not in self.folders:
            self.folders.add(folder)
            self.namespaces.update(kustomization_namespaces(folder, self.manifests,
                                                            os.path.dirname(display) or "."))
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_MANIFEST_BYTES + 1)
        except OSError as e:
            self.manifests.problems.append((display, None, "MTLS904",
                                            f"{display} cannot be read: {e.strerror}"))
            return True
        if len(data) > MAX_MANIFEST_BYTES:
            self.manifests.problems.append((display, None, "MTLS904",
                                            f"{display} is larger than any manifest; skipped"))
            return True
        text = data.decode("utf-8", errors="replace")
        if os.path.basename(path) in KUSTOMIZATION_NAMES:
            return True  # read for its namespace, above
        if not explicit and not looks_like_manifest(text):
            return False
        found = read_objects(text, display, self.namespaces.get(real), self.manifests)
        if found:
            self.manifests.files.append(display)
            self.texts[display] = text
        return found

    def render(self) -> list[Rendering]:
        self.renderings = render_all(self.manifests, self.configmap, self.classes)
        return self.renderings


def manifest_files(folder: str) -> list[str]:
    """YAML files below `folder` (hidden folders skipped), sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [os.path.join(dirpath, n) for n in sorted(filenames)
                  if is_yaml(n) and not n.startswith(".")]
    return found


def to_workspace(inputs: Inputs, workspace: "Workspace") -> None:
    """Render what was read and add each rendering to the workspace as a tree, with the
    input's diagnostics and notes."""
    from ..findings import diagnostic
    from ..loader import Tree

    manifests = inputs.manifests
    for file, line, code, message in manifests.problems:
        workspace.findings.append(diagnostic(code, file, line, message))
    for rendering in inputs.render():
        store = rendering.store
        RENDERED[id(rendering.stmts)] = rendering
        workspace.trees.append(Tree(rendering.root, "main", rendering.stmts, "/etc/nginx",
                                    store.resolve, None, set(), store.elsewhere))
    for note in manifests.notes:  # the rendering's own notes too
        workspace.notes.setdefault(note)
    workspace.files.update(manifests.files)
    for display, text in inputs.texts.items():  # `# nginx-mtls-lint: disable=...` in YAML
        workspace.file_stmts[display] = comment_lines(text, display)
    workspace.kubernetes = inputs


def comment_lines(text: str, file: str) -> list[Stmt]:
    """A YAML file as the suppression reader sees a file: one statement per line of content
    and one comment statement per `#` comment (outside quotes), each on its line."""
    out = []
    for number, line in enumerate(text.split("\n"), 1):
        quote = None
        for index, char in enumerate(line):
            if quote:
                quote = None if char == quote else quote
            elif char in "'\"":
                quote = char
            elif char == "#" and (index == 0 or line[index - 1] in " \t"):
                if line[:index].strip():
                    out.append(Stmt("yaml", [], file, number))
                out.append(Stmt("#", [line[index + 1:]], file, number))
                break
        else:
            if line.strip():
                out.append(Stmt("yaml", [], file, number))
    return out


def target_of(workspace: "Workspace") -> Target | None:
    """Manifests alone are judged for the nginx their controller bundles."""
    from ..versions import Target, parse_upstream
    inputs = workspace.kubernetes
    if inputs is None or not inputs.renderings or \
            len(workspace.trees) != len(inputs.renderings):
        return None
    first = inputs.renderings[0]
    return Target(parse_upstream(first.nginx_version),
                  source=f"the nginx that {first.release} bundles",
                  patched=frozenset(first.patched))


def rendering_of(stmts: list[Stmt]) -> Rendering | None:
    found = RENDERED.get(id(stmts))
    return found if found is not None and found.stmts is stmts else None


def controller_of(ingress: Obj, manifests: Manifests,
                  classes: dict[str, str] | None = None) -> str | None:
    """The IngressClass the manifests hold for the Ingress's class (its spec.controller:
    another controller's class is not ours), else the class named by --ingress-class, else
    the annotation prefix, else --ingress-class *=CONTROLLER."""
    classes = classes or {}
    klass = ingress.node.text("spec", "ingressClassName") or \
        ingress.node.text("metadata", "annotations", "kubernetes.io/ingress.class")
    if klass:
        found = manifests.find("IngressClass", None, klass)
        if found is not None:
            return CONTROLLERS.get(found.node.text("spec", "controller") or "")
        if klass in classes:
            return CONTROLLERS[classes[klass]]
    keys = ingress.annotations().keys()
    if any(k.startswith(ingress_nginx.PREFIX) for k in keys):
        return "ingress-nginx"
    if any(k.startswith("nginx.org/") for k in keys):
        return "nginx-ingress"
    if ANY_CLASS in classes:
        return CONTROLLERS[classes[ANY_CLASS]]
    if klass:
        manifests.notes.append(
            f"{ingress.file}: Ingress {ingress.ref} names class {klass!r}, which no IngressClass "
            f"in the input defines: not rendered (if an nginx controller serves it, say which: "
            f"--ingress-class {klass}=ingress-nginx, or =nginx-ingress)")
    return None


def controller_configmap(manifests: Manifests, named: str | None = None) -> Obj | None:
    """The ingress-nginx controller's ConfigMap: the one --ingress-configmap names, else the
    chart's and the static manifests' names."""
    if named is not None:
        namespace, _, name = named.rpartition("/")
        found = manifests.find("ConfigMap", namespace or None, name)
        if found is None:
            manifests.notes.append(
                f"the controller's ConfigMap {named} (--ingress-configmap) is not in the input: "
                "ingress-nginx's defaults are assumed for its settings")
        return found
    for obj in manifests.of_kind("ConfigMap"):
        if obj.name.endswith("ingress-nginx-controller") or obj.name == "nginx-configuration":
            return obj
    return None


def render_all(manifests: Manifests, configmap: str | None = None,
               classes: dict[str, str] | None = None) -> list[Rendering]:
    owned: dict[str, list[Obj]] = {}
    for ingress in manifests.of_kind("Ingress"):
        controller = controller_of(ingress, manifests, classes)
        if controller is not None:
            owned.setdefault(controller, []).append(ingress)
    out = []
    ingresses = owned.get("ingress-nginx")
    if ingresses:
        store = FileStore()
        renderer = ingress_nginx.Renderer(manifests, ingresses,
                                          controller_configmap(manifests, configmap), store)
        stmts = renderer.render()
        out.append(Rendering("ingress-nginx", ingress_nginx.RELEASE,
                             ingress_nginx.NGINX_VERSION, ingress_nginx.PATCHED,
                             ingresses[0].file, stmts, store,
                             renderer.origins, renderer.notes, renderer))
    f5 = owned.get("nginx-ingress", []) + manifests.of_kind("VirtualServer")
    if f5:
        store = FileStore()
        nic_renderer = nic.Renderer(manifests, f5, store)
        out.append(Rendering("nginx-ingress", nic.RELEASE, nic.NGINX_VERSION, (), f5[0].file,
                             nic_renderer.render(), store, renderer=nic_renderer))
    gateways = manifests.of_kind("Gateway")
    if gateways:
        store = FileStore()
        gateway_renderer = gateway.Renderer(manifests, gateways, store)
        out.append(Rendering("gateway-api", gateway.RELEASE, gateway.NGINX_VERSION, (),
                             gateways[0].file, gateway_renderer.render(), store,
                             renderer=gateway_renderer))
    return out


__all__ = ["Inputs", "Rendering", "is_yaml", "render_all"]
