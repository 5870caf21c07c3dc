"""The bundle format and the durable outbox, on a real file system."""

from __future__ import annotations

from rigs.peers import ROOT
from tests.unit.test_bundle_outbox import MANIFEST, SECTIONS, bundle_bytes  # noqa: F401  (fixtures and helpers shared with that tier)


def test_inspect_exits_1_on_a_damaged_bundle(tmp_path, cli):
    good, bad = tmp_path / "good.tar.gz", tmp_path / "bad.tar.gz"
    good.write_bytes(bundle_bytes())
    bad.write_bytes(bundle_bytes()[:-40])
    ok = cli("inspect", good)
    assert ok.returncode == 0 and "every checksum OK" in ok.stdout and "readings.json" in ok.stdout
    broken = cli("inspect", bad)
    assert broken.returncode == 1
    assert broken.stderr.startswith(f"diag-agent: {bad} is damaged:") and "Traceback" not in broken.stderr


def test_a_damaged_gzip_trailer_is_damage_and_a_closed_pipe_is_a_quiet_end(tmp_path, cli):
    import subprocess
    import sys

    trailer = bytearray(bundle_bytes())
    trailer[-6] ^= 0xFF  # the CRC-32 of the gzip trailer: a tar reader alone never reads it
    bad = tmp_path / "trailer.tar.gz"
    bad.write_bytes(bytes(trailer))
    result = cli("inspect", bad)
    assert result.returncode == 1 and "is damaged" in result.stderr and "incorrect data check" in result.stderr
    good = tmp_path / "good.tar.gz"
    good.write_bytes(bundle_bytes())
    argv = " ".join(f"'{a}'" for a in [sys.executable, "-m", "agent", "inspect", str(good)])
    # `true` reads nothing and is gone before the agent writes: every write meets a closed pipe.
    piped = subprocess.run(f"{argv} | true", shell=True, capture_output=True, text=True, cwd=ROOT)
    assert piped.returncode == 0 and piped.stderr == ""
