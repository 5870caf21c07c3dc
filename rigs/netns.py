"""Network namespaces the tests make: a box, a router, a backend, linked by veth pairs (root)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid


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
            env=dict(os.environ),
        )
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def remove(self):
        for ns in self.made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
            subprocess.run(["rm", "-rf", f"/etc/netns/{ns}"])
