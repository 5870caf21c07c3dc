"""Network verdicts, each produced by a real failure: on loopback, and in network namespaces the
test makes itself (its own test hosts; no traffic leaves them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import peers
import pytest
from conftest import ROOT

from agent.health.network import collect_network
from agent.watch.judge import network_verdict


def test_backend_reachable_over_verified_tls_is_functional(intake, certs):
    net = collect_network(intake.info["url"], (certs["ca"],), None, timeout=2, check_gateway=False)
    assert network_verdict(net)["verdict"] == "functional" and net["failed_step"] is None
    assert net["steps"]["backend_tls"]["ok"]


def test_a_closed_port_is_backend_unreachable():
    net = collect_network(f"https://127.0.0.1:{peers.free_port()}/api", (), None, timeout=2, check_gateway=False)
    assert net["failed_step"] == "backend_tcp"
    assert network_verdict(net)["verdict_text"] == "not functional: backend unreachable"
    assert "Connection refused" in net["steps"]["backend_tcp"]["detail"]


def test_a_certificate_from_another_ca_is_tls_refused(intake, certs):
    net = collect_network(intake.info["url"], (certs["wrong_ca"],), None, timeout=2, check_gateway=False)
    assert net["failed_step"] == "backend_tls"
    assert "certificate not accepted" in net["steps"]["backend_tls"]["detail"]


def test_the_broker_is_checked_too(broker):
    net = collect_network("", (), ("127.0.0.1", broker.info["port"], False, ()), check_gateway=False)
    assert net["broker"]["ok"]
    net = collect_network("", (), ("127.0.0.1", peers.free_port(), False, ()), check_gateway=False)
    assert not net["broker"]["ok"]


class Namespaces:
    """Network namespaces for one test, removed at the end. `run` collects the network inside one."""

    def __init__(self):
        self.tag = uuid.uuid4().hex[:6]
        self.made: list[str] = []

    def ip(self, *args, ns=None):
        cmd = (["ip", "netns", "exec", ns] if ns else []) + ["ip", *args]
        subprocess.run(cmd, check=True, capture_output=True)

    def add(self, name):
        full = f"da-{name}-{self.tag}"
        subprocess.run(["ip", "netns", "add", full], check=True)
        self.made.append(full)
        # Names resolve against a resolver that is not there: a failed lookup never leaves the namespace.
        os.makedirs(f"/etc/netns/{full}", exist_ok=True)
        with open(f"/etc/netns/{full}/resolv.conf", "w") as f:
            f.write("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
        self.ip("link", "set", "lo", "up", ns=full)
        return full

    def veth(self, a, b):
        left, right = f"va{self.tag}", f"vb{self.tag}"
        subprocess.run(
            ["ip", "link", "add", left, "netns", a, "type", "veth", "peer", "name", right, "netns", b], check=True
        )
        return left, right

    def run(self, ns, backend_url, check_gateway=True) -> dict:
        code = (
            "import json, sys; from agent.health.network import collect_network; "
            f"print(json.dumps(collect_network({backend_url!r}, (), None, timeout=1, dns_timeout=2, "
            f"check_gateway={check_gateway})))"
        )
        out = subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=30,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
        )
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def remove(self):
        for ns in self.made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
            subprocess.run(["rm", "-rf", f"/etc/netns/{ns}"])


@pytest.fixture
def netns():
    n = Namespaces()
    yield n
    n.remove()


BACKEND = "https://support.diag-agent.test/api/v1/reports"


def test_no_interface_up_is_no_link(netns):
    box = netns.add("box")
    assert network_verdict(netns.run(box, BACKEND))["verdict_text"] == "not functional: no link"


def test_a_dead_cable_is_no_link(netns):
    box, router = netns.add("box"), netns.add("router")
    left, right = netns.veth(box, router)
    netns.ip("link", "set", left, "up", ns=box)  # the router's end stays down: no carrier
    net = netns.run(box, BACKEND)
    assert net["failed_step"] == "link"
    assert net["interfaces"][left]["operstate"] in ("down", "lowerlayerdown")


def test_a_link_without_an_address(netns):
    box, router = netns.add("box"), netns.add("router")
    left, right = netns.veth(box, router)
    netns.ip("link", "set", left, "up", ns=box)
    netns.ip("link", "set", right, "up", ns=router)
    assert network_verdict(netns.run(box, BACKEND))["verdict_text"] == "not functional: no address"


@pytest.fixture
def wired(netns):
    """A box and a router on one veth link, 10.213.0.2 and 10.213.0.1, both in our namespaces."""
    box, router = netns.add("box"), netns.add("router")
    left, right = netns.veth(box, router)
    netns.ip("addr", "add", "10.213.0.2/24", "dev", left, ns=box)
    netns.ip("addr", "add", "10.213.0.1/24", "dev", right, ns=router)
    netns.ip("link", "set", left, "up", ns=box)
    netns.ip("link", "set", right, "up", ns=router)
    return box, router


def test_an_address_but_no_route_is_no_gateway(netns, wired):
    net = netns.run(wired[0], BACKEND)
    assert network_verdict(net)["verdict_text"] == "not functional: no gateway"
    assert net["steps"]["gateway"]["detail"] == "no default route"


def test_a_gateway_that_does_not_answer(netns, wired):
    netns.ip("route", "add", "default", "via", "10.213.0.9", ns=wired[0])  # nobody has .9
    net = netns.run(wired[0], BACKEND)
    assert net["failed_step"] == "gateway" and "does not answer ARP" in net["steps"]["gateway"]["detail"]


def test_a_working_gateway_but_a_name_that_does_not_resolve_is_no_dns(netns, wired):
    netns.ip("route", "add", "default", "via", "10.213.0.1", ns=wired[0])
    net = netns.run(wired[0], BACKEND)
    assert net["steps"]["gateway"]["ok"]
    assert network_verdict(net)["verdict_text"] == "not functional: no DNS"
    assert net["steps"]["dns"]["detail"] == "support.diag-agent.test does not resolve"
