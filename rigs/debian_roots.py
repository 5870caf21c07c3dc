"""Debian 12 roots for the checks on the real thing (ARM boards under qemu-user, a booted systemd) and for the
package's figures in the bench: built by packaging/debian_root.sh (cached), with this checkout copied in where an
image build would put it; the Debian package built by packaging/build_deb.sh and installed with no network."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from rigs import peers

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _script(name: str, *args: str) -> str:
    """Run scripts/NAME with ARGS; its stdout, or RuntimeError with what it said."""
    done = subprocess.run(
        ["bash", str(peers.ROOT / "packaging" / name), *args], capture_output=True, text=True, timeout=2400
    )
    if done.returncode != 0:
        raise RuntimeError(f"packaging/{name} {' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    return done.stdout


def make_root(arch: str, where: Path) -> Path:
    _script("debian_root.sh", arch, str(where))
    # The source as a checkout holds it (no venvs, no caches).
    shutil.copytree(
        peers.ROOT,
        where / "src",
        ignore=shutil.ignore_patterns(
            ".venv*", ".git", "__pycache__", ".pytest_cache", "*.egg-info", "build", "dist", "test-artifacts"
        ),
    )
    return where


def build_package(arch: str, out: Path) -> Path:
    """packaging/build_deb.sh ARCH OUT: the .deb, built inside a Debian root of ARCH."""
    return Path(_script("build_deb.sh", arch, str(out)).strip().splitlines()[-1])


def install_package(chroot: Chroot, deb: Path) -> subprocess.CompletedProcess:
    """apt installs the package into the root with no network at all, as an image build with no mirror."""
    shutil.copy(deb, chroot.path / "tmp" / deb.name)
    return chroot.run(f"DEBIAN_FRONTEND=noninteractive apt-get install -y /tmp/{deb.name}", network=False)


class Chroot:
    """A root with /proc, /sys and /dev bound in, as an image builder sets it up; commands run in it as root."""

    def __init__(self, path: Path):
        self.path = path
        self.mounts: list[Path] = []
        for what, how in (("proc", ["-t", "proc", "proc"]), ("sys", ["--rbind", "/sys"]), ("dev", ["--rbind", "/dev"])):
            subprocess.run(["mount", *how, str(path / what)], check=True)
            self.mounts.append(path / what)

    def run(self, command: str, timeout: float = 600, network: bool = True) -> subprocess.CompletedProcess:
        """COMMAND as root inside; without NETWORK in a network namespace of its own (no interface but lo, down)."""
        return subprocess.run(
            [*([] if network else ["unshare", "--net"]), "chroot", str(self.path), "/bin/bash", "-c", command],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={"PATH": PATH, "LANG": "C.UTF-8", "HOME": "/root"},
        )

    def close(self) -> None:
        for target in reversed(self.mounts):
            subprocess.run(["umount", "-R", "-l", str(target)], check=False)
