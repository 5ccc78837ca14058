"""Kubernetes objects read from YAML files: the kinds whose fields decide client verification.

Objects keep their nodes (every field's line). A namespace not written in the object (nor
given by a kustomization beside it) is unknown: `kubectl apply -n NS` decides it, so such an
object matches references from any namespace.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass, field

from .yamlnodes import Node, YamlProblem, documents

KINDS = {"Ingress", "Secret", "ConfigMap", "IngressClass", "Policy", "VirtualServer",
         "VirtualServerRoute", "Gateway", "HTTPRoute", "GatewayClass"}
READ_AS = {"bool": "a boolean", "int": "an integer", "float": "a number", "null": "null"}
TEMPLATE = re.compile(r"\{\{-?\s*[^}]*\}\}")
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
# kustomize features that change the objects we read (names, data, namespaces per resource).
TRANSFORMING = ("namePrefix", "nameSuffix", "patches", "patchesStrategicMerge",
                "patchesJson6902", "replacements", "components", "secretGenerator",
                "configMapGenerator", "transformers", "generators")


@dataclass(slots=True, eq=False)
class Obj:
    kind: str
    api: str
    name: str
    namespace: str | None  # None: not stated (kubectl -n decides)
    node: Node
    file: str

    @property
    def ref(self) -> str:
        return f"{self.namespace or '<namespace>'}/{self.name}"

    def annotations(self) -> dict[str, Node]:
        return dict(self.node.items("metadata", "annotations"))

    def data(self, key: str) -> tuple[bytes | None, Node | None]:
        """A Secret's or ConfigMap's value for `key` (`data` is base64 in a Secret),
        with its node; None when absent or not decodable."""
        for section, encoded in (("data", self.kind == "Secret"), ("stringData", False),
                                 ("binaryData", True)):
            node = self.node.get(section, key)
            if node is None or not isinstance(node.value, str):
                continue
            if not encoded:
                return node.value.encode(), node
            try:
                return base64.b64decode("".join(node.value.split()), validate=True), node
            except (binascii.Error, ValueError):
                return None, node
        return None, None

    def has_key(self, key: str) -> bool:
        return any(self.node.get(section, key) is not None
                   for section in ("data", "stringData", "binaryData"))


@dataclass(slots=True)
class Manifests:
    objects: list[Obj] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # display paths of the YAML files read
    # (file, line, code, message): diagnostics about the input
    problems: list[tuple[str, int | None, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    templates: list[str] = field(default_factory=list)  # unrendered Helm templates

    def of_kind(self, *kinds: str) -> list[Obj]:
        return [o for o in self.objects if o.kind in kinds]

    def find(self, kind: str, namespace: str | None, name: str) -> Obj | None:
        """The object a reference names; an object of unstated namespace matches any."""
        for obj in self.objects:
            if obj.kind == kind and obj.name == name and (
                    obj.namespace is None or namespace is None or obj.namespace == namespace):
                return obj
        return None


def looks_like_manifest(text: str) -> bool:
    return bool(re.search(r"^\s*kind\s*:", text, re.M)) and "apiVersion" in text


def read_objects(text: str, file: str, namespace: str | None, out: Manifests) -> bool:
    """Add the objects of one YAML file; False when it holds none we read."""
    if TEMPLATE.search(text) and looks_like_manifest(text):
        out.templates.append(file)
        line = text[:TEMPLATE.search(text).start()].count("\n") + 1  # type: ignore[union-attr]
        out.problems.append((file, line, "MTLS916",
                             f"{os.path.basename(file)} is a Helm template (`{{{{ ... }}}}`): "
                             "what it renders depends on values not read here. Render it first "
                             "(`helm template RELEASE CHART -f values.yaml > rendered.yaml`) and "
                             "lint the result."))
        return True
    docs, problem = documents(text)
    if problem is not None:
        out.problems.append((file, problem.line, "MTLS900", problem.message))
    before = len(out.objects)
    for doc in docs:
        _add(doc, file, namespace, out, 0)
    return len(out.objects) > before or problem is not None


def _add(doc: Node, file: str, namespace: str | None, out: Manifests, depth: int) -> None:
    kind = doc.text("kind")
    if kind is not None and kind.endswith("List") and depth == 0:
        for item in doc.seq("items"):
            _add(item, file, namespace, out, 1)
        return
    if kind not in KINDS:
        return
    name = doc.text("metadata", "name") or ""
    ns = doc.text("metadata", "namespace") or namespace
    for key, value in doc.items("metadata", "annotations"):
        if value.plain and value.tag in ("bool", "int", "float", "null"):
            out.problems.append((file, value.at, "MTLS900",
                                 f"`{key}: {value.value}`: YAML reads an unquoted "
                                 f"{value.value} as {READ_AS[value.tag]}, and annotations are "
                                 "strings: "
                                 f"kubectl rejects the {kind}. Quote it: "
                                 f"`{key}: \"{value.value}\"`"))
    out.objects.append(Obj(kind, doc.text("apiVersion") or "", name, ns, doc, file))


def kustomization_namespaces(folder: str, out: Manifests,
                             display: str) -> dict[str, str]:
    """The resource files of a kustomization in `folder` -> the namespace it sets; a note when
    it also transforms objects in ways not applied here."""
    for name in KUSTOMIZATION_NAMES:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            break
    else:
        return {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            docs, _ = documents(f.read(1 << 20))
    except OSError:
        return {}
    if not docs:
        return {}
    kustomization = docs[0]
    transforms = [key for key in TRANSFORMING if kustomization.get(key) is not None]
    if transforms:
        out.notes.append(f"{display}: kustomize {', '.join(transforms)} not applied here; lint "
                         "the output of `kustomize build` to check what is deployed")
    namespace = kustomization.text("namespace")
    if not namespace:
        return {}
    files = {}
    for resource in kustomization.seq("resources"):
        if isinstance(resource.value, str):
            files[os.path.normpath(os.path.join(folder, resource.value))] = namespace
    return files


__all__ = ["Obj", "Manifests", "read_objects", "kustomization_namespaces", "YamlProblem",
           "looks_like_manifest"]
