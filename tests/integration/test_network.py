"""Network verdicts, each produced by a real failure: on loopback, and in network namespaces the
test makes itself (its own test hosts; no traffic leaves them)."""

from __future__ import annotations

import pytest

from agent.health.network import collect_network
from agent.watch.judge import network_verdict
from rigs import peers
from rigs.netns import Namespaces
from tests.unit.test_network import BACKEND  # noqa: F401  (fixtures and helpers shared with that tier)


@pytest.fixture
def netns():
    n = Namespaces()
    yield n
    n.remove()


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


def test_backend_reachable_over_verified_tls_is_functional(intake, certs):
    net = collect_network(intake.info["url"], (certs["ca"],), None, timeout=2, check_gateway=False)
    assert network_verdict(net)["verdict"] == "functional" and net["failed_step"] is None
    assert net["steps"]["backend_tls"]["ok"]


def test_a_certificate_from_another_ca_is_tls_refused(intake, certs):
    net = collect_network(intake.info["url"], (certs["wrong_ca"],), None, timeout=2, check_gateway=False)
    assert net["failed_step"] == "backend_tls"
    assert "certificate not accepted" in net["steps"]["backend_tls"]["detail"]


def test_the_broker_is_checked_too(broker):
    net = collect_network("", (), ("127.0.0.1", broker.info["port"], False, ()), check_gateway=False)
    assert net["broker"]["ok"]
    net = collect_network("", (), ("127.0.0.1", peers.free_port(), False, ()), check_gateway=False)
    assert not net["broker"]["ok"]


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
