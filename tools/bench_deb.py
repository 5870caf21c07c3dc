"""The Debian package's figures for scripts/bench.py (amd64, this machine):

deb_build_s      packaging/build_deb.sh amd64: a fresh Debian root, the venv from the package index, packed
deb_bytes        the .deb's size
deb_installed_kb what it takes on the box (the control file's Installed-Size)
deb_install_s    `apt-get install -y ./diag-agent_*.deb` into a fresh Debian 12 root with no network at all
                 (its own network namespace), as an image build does: unpack, sysusers, the unit enabled
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from rigs.debian_roots import Chroot, build_package, install_package, make_root


def figures() -> dict:
    with tempfile.TemporaryDirectory(prefix="diag-agent-bench-deb-", dir="/var/tmp") as work:
        t0 = time.monotonic()
        deb = build_package("amd64", Path(work) / "dist")
        build_s = time.monotonic() - t0
        root = make_root("amd64", Path(work) / "root")
        chroot = Chroot(root)
        try:
            t0 = time.monotonic()
            installed = install_package(chroot, deb)
            install_s = time.monotonic() - t0
            if installed.returncode != 0:
                raise RuntimeError(f"the offline install failed:\n{installed.stdout[-2000:]}{installed.stderr[-2000:]}")
        finally:
            chroot.close()
        size = subprocess.run(["dpkg-deb", "-f", str(deb), "Installed-Size"], capture_output=True, text=True)
        return {
            "deb_build_s": round(build_s, 2),
            "deb_bytes": deb.stat().st_size,
            "deb_installed_kb": int(size.stdout.strip()),
            "deb_install_s": round(install_s, 2),
        }


if __name__ == "__main__":
    print(figures())
