"""Network verdicts, each produced by a real failure: on loopback, and in network namespaces the
test makes itself (its own test hosts; no traffic leaves them)."""

from __future__ import annotations

from agent.health.network import collect_network
from agent.watch.judge import network_verdict
from rigs import peers


def test_a_closed_port_is_backend_unreachable():
    net = collect_network(f"https://127.0.0.1:{peers.free_port()}/api", (), None, timeout=2, check_gateway=False)
    assert net["failed_step"] == "backend_tcp"
    assert network_verdict(net)["verdict_text"] == "not functional: backend unreachable"
    assert "Connection refused" in net["steps"]["backend_tcp"]["detail"]


BACKEND = "https://support.diag-agent.test/api/v1/reports"
