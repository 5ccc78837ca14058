"""Every Kubernetes fixture carries the label a real nginx gave its rendering; re-prove it in
the flow harness's private network namespace (tests/test_flow_labels.py), with the linter
agreeing.

Each manifest under fixtures/kubernetes/ (and fixtures/rules/*/*.yaml, proven by the rule's own
test here) starts with the flow
cases' header, as YAML comments:

    # label: bypass | held | broken
    # proof: client=none uri=/ host=shop.example.com -> content
    # facts: <what of the controller's rendering decides it (kubernetes-rendering.md section)>

The test renders the manifests as the linter does (nginx_mtls_lint.kubernetes, pinned to the
controller's release; the parts that need the controller's Lua are the renderers' documented
stubs, see their docstrings) and runs exactly that text as a flow case: its own ports (80,
443) inside the namespace, only paths rewritten:
- every CA file a Secret or ConfigMap gives -> the flow's expected CA (client-ca.pem): its
  valid client stands for Cloudflare's edge and carries the name Cloudflare's origin-pull
  client is reported to have (CN=origin-pull.cloudflare.net; the forged and self-signed
  clients carry it too);
- the controller's certificates -> the flow's server certificate;
- the stub upstream (127.0.0.1:8181) -> the flow's application, which reads no
  `ssl-client-*` header: an application that leaves the decision to nginx; with
  `# application: reads ssl-client-verify` the header ingress-nginx sends is renamed to the
  one the flow's application refuses anything but SUCCESS on (X-Client-Verify).
Then (1) nginx gives every `# proof:` and the label (the flow's sweep; a proof of a client
without a valid certificate counts as the sweep's requests do, so `header=` proofs show what
the sweep does not send); (2) the linter's label agrees: bypass -> an error or warning of a
bypass rule, held -> no error of one, broken -> MTLS007; (3) every (host, port, path, client
kind) cell the linter decides (`compare`'s cells) is what nginx did with that request.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import FIXTURES, lint_in_process, skip_or_fail
from nginx_harness import nginx_binary
from nginx_mtls_lint import compare
from nginx_mtls_lint.kubernetes import Inputs
from test_flow_fixtures import BYPASS_RULES
from test_flow_labels import HEADER, Request, in_private_network, load_case, make_flow_pki, \
    outcome_matches, run_case

pytestmark = pytest.mark.nginx

CASES = sorted((FIXTURES / "kubernetes").rglob("*.yaml"))
RULE_CASES = sorted((FIXTURES / "rules").glob("*/*.yaml"))
CLOUDFLARE_CLIENT = "origin-pull.cloudflare.net"
# compare's client kinds as the flow's clients: "failed" is a self-signed certificate
# ("other-ca", a certificate of another CA nginx trusts, has no flow client: one CA per case)
FLOW_CLIENT = {"none": "none", "failed": "selfsigned", "valid": "valid", "plain": "plain"}
# a client writes any header: the one the controllers' https redirects read is sent too
SPOOFED = "X-Forwarded-Proto:https"
KUBERNETES_BYPASS_RULES = BYPASS_RULES | {"MTLS109"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    return make_flow_pki(tmp_path_factory.mktemp("k8s-flow-pki"), CLOUDFLARE_CLIENT)


def flow_case(manifest: Path, folder: Path) -> Path:
    """The manifest's rendering as a flow case (folder/nginx.conf) with its header."""
    inputs = Inputs()
    inputs.add(str(manifest), str(manifest), True)
    (rendering,) = inputs.render()  # one controller per fixture
    text = rendering.text
    for path in rendering.store.files:
        text = text.replace(path, "/etc/nginx/certs/client-ca.pem")
    text = re.sub(r"(ssl_certificate) \S+;", r"\1 /etc/nginx/certs/server.pem;", text)
    text = re.sub(r"(ssl_certificate_key) \S+;", r"\1 /etc/nginx/certs/server.key;", text)
    if re.search(r"^# application: reads ssl-client-verify$", manifest.read_text(), re.M):
        text = text.replace("proxy_set_header ssl-client-verify ",
                            "proxy_set_header X-Client-Verify ")
    header = [line for line in manifest.read_text().splitlines() if HEADER.match(line)]
    folder.mkdir(parents=True)
    (folder / "nginx.conf").write_text("\n".join(header) + "\n" + text)
    return folder


def linter_cells(manifest: Path) -> list[tuple[Request, str]]:
    """Each cell the linter decides (open or refused) as the flow's request, with the
    verdict."""
    model = lint_in_process([manifest]).model
    cache: dict = {}
    found = []
    for cell in compare.cells_of(model):
        verdict = compare.answer(model, cell, cache).verdict
        if verdict == "cannot prove" or cell.host.startswith("~") or \
                cell.client not in FLOW_CLIENT:
            continue
        found.append((Request(FLOW_CLIENT[cell.client], "cf" if cell.client == "valid"
                              else "direct", uri=cell.uri, host=cell.host,
                              port=int(cell.port)), verdict))
    return found


def linter_label(manifest: Path) -> tuple[str, list[str]]:
    findings = lint_in_process([manifest]).findings
    rules = {f.rule for f in findings if f.severity in ("error", "warning")}
    errors = {f.rule for f in findings if f.severity == "error"}
    said = [f"{f.line} {f.rule} {f.severity}: {f.message[:100]}" for f in findings]
    if "MTLS007" in errors:
        return "broken", said
    return ("bypass" if rules & KUBERNETES_BYPASS_RULES else "held"), said


def test_every_fixture_has_a_label():
    unlabelled = [str(c) for c in CASES + RULE_CASES
                  if not re.search(r"^# label:", c.read_text(), re.M)]
    assert not unlabelled, unlabelled


@pytest.mark.parametrize("manifest", CASES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_rendering_gives_the_label_and_the_linter_agrees(manifest: Path, pki: Path,
                                                         tmp_path: Path):
    prove(manifest, pki, tmp_path)


def test_MTLS109_weakest_order_serves_the_strict_ingress_without_certificate(
        pki: Path, tmp_path: Path):
    """shop-api asks `on` for /api; shop-legacy (optional_no_ca) may be the oldest Ingress of
    the host: then nginx serves /api to a client without any certificate. The guard's
    Ingresses agree: every order holds."""
    for manifest in sorted((FIXTURES / "rules" / "MTLS109").glob("*.yaml")):
        prove(manifest, pki, tmp_path / manifest.stem)


def prove(manifest: Path, pki: Path, tmp_path: Path, extra: tuple[Request, ...] = ()) -> list:
    """The label of the manifest's header, and the linter's cells, on nginx; the outcomes of
    `extra` requests."""
    if os.geteuid() != 0 or not shutil.which("ip"):
        skip_or_fail("the labels are proven in a private network namespace: root and "
                     "iproute2 needed")
    case = load_case(flow_case(manifest, tmp_path / "case"))
    cells = linter_cells(manifest)
    assert cells, "the linter decides no cell of this rendering"
    for request, _ in cells:  # a port the case's listens do not show is still swept
        assert request.port in case.tls_ports + case.plain_ports, request
    sent = tuple(r for request, _ in cells for r in (request, replace(request, header=SPOOFED)))
    result = in_private_network(lambda: run_case(case, tmp_path / "nginx", pki,
                                                 nginx_binary(), sent + extra))
    assert "error" not in result, result.get("error")
    wrong = [f"{r} -> expected {e}, got {o['detail']}" for r, e, o in result["proofs"]
             if not outcome_matches(o, e)]
    assert not wrong, "\n".join(wrong)
    others = [o for _, o in result["others"]] + [
        o for r, _, o in result["proofs"] if "client=valid" not in r]
    label = "bypass" if any(o["content"] for o in others) else \
        "held" if any(o["content"] for _, o in result["valid"]) else "broken"
    assert label == case.label, f"nginx: {label}, header: {case.label}"
    said, findings = linter_label(manifest)
    assert said == case.label, "\n".join([f"the linter says {said}"] + findings)
    answers = result["extra"][:len(sent)]
    disagree = [f"{r}: linter {verdict}, nginx {plain['detail']} / {spoofed['detail']}"
                for (r, verdict), plain, spoofed in zip(cells, answers[::2], answers[1::2])
                if (plain["content"] or spoofed["content"]) != (verdict == "open")]
    assert not disagree, "\n".join(disagree)
    return result["extra"][len(sent):]


def test_MTLS011_unanchored_match_cn_admits_a_longer_name_of_the_same_ca(tmp_path: Path):
    """`auth-tls-match-cn: "CN=partner.example"` lets in a certificate the same CA issued to
    partner.example-x.attacker.example; the anchored, escaped value refuses it (403) and still
    serves partner.example (the valid client of the labels)."""
    folder = tmp_path / "pki"
    folder.mkdir()
    pki = make_flow_pki(folder, "partner.example",
                        {"longer": "partner.example-x.attacker.example"})
    longer = Request("longer", "direct", uri="/", host="partner-api.example.com", port=443)
    rule = FIXTURES / "rules" / "MTLS011"
    (unanchored,) = prove(rule / "match_cn_unanchored.yaml", pki, tmp_path / "bad", (longer,))
    assert unanchored["content"], unanchored
    (anchored,) = prove(rule / "match_cn_anchored_fp.yaml", pki, tmp_path / "good", (longer,))
    assert anchored["status"] == 403 and not anchored["content"], anchored
