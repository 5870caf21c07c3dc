"""The installer's bus scan tells the truth: configured units are always asked, zeros fit nothing, progress
shows, and on a serial bus the quick scan keeps its own short timeout without touching the poller's."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from rigs import peers

ZERO_SERVER = r"""
import sys
from pymodbus.datastore import ModbusDeviceContext, ModbusSequentialDataBlock, ModbusServerContext
from pymodbus.server import StartTcpServer
# A gateway or an emulator that answers every register of every unit id with 0.
block = lambda: ModbusSequentialDataBlock(0, [0] * 65536)
ctx = ModbusServerContext(devices=ModbusDeviceContext(ir=block(), hr=block()), single=True)
StartTcpServer(context=ctx, address=("127.0.0.1", int(sys.argv[1])))
"""


def test_configured_units_are_always_asked_and_the_scan_says_how_far_it_is(make_config, sim_bus, cli):
    cfg = make_config(buses=[sim_bus], devices=peers.sim_devices())  # the meter is unit 105
    result = cli("scan", "--config", cfg, "--units", "1-20", "--timeout", "0.1", "--json")
    (scan,) = json.loads(result.stdout)
    found = {f["unit"]: f for f in scan["found"]}
    assert 105 in found, "the working meter was called silent without being asked"
    assert "sdm630" in [p["profile"] for p in found[105]["fits"]]
    assert scan["units_asked"] == 21
    assert "scanning bus sim: 21 of 21 unit ids asked, 2 answered" in result.stderr


def test_an_answer_of_zeros_everywhere_fits_no_profile(tmp_path, make_config, cli):
    port = peers.free_port()
    server = subprocess.Popen([sys.executable, "-c", ZERO_SERVER, str(port)], stderr=subprocess.DEVNULL)
    try:
        peers.wait_for(lambda: peers.port_open(port), 10, "the all-zero Modbus server")
        bus = {"name": "zeros", "type": "tcp", "host": "127.0.0.1", "port": port}
        cfg = make_config(buses=[bus], devices=[])
        (scan,) = json.loads(cli("scan", "--config", cfg, "--units", "1,2", "--json").stdout)
        assert [f["unit"] for f in scan["found"]] == [1, 2]  # they answer ...
        assert all(f["fits"] == [] for f in scan["found"]), scan  # ... but with nothing a profile can use
    finally:
        server.kill()
        server.wait()


def test_the_quick_scan_on_rtu_keeps_its_own_timeout_on_the_pollers_link(rtu_simulator):
    from agent.config import BusConfig
    from agent.devices.modbus import ModbusLink
    from agent.devices.scan import quick_scans

    bus = BusConfig(
        name="rs485", type="rtu", device=rtu_simulator.info["agent_port"], baudrate=9600, timeout_s=2.0, retries=1
    )
    link = ModbusLink(bus)  # the poller's, with its 2 s timeout and a retry
    from dataclasses import replace

    from tests.unit.test_faults import device

    readings = {
        "meter": replace(device("meter"), bus="rs485", unit=105),
        "lost": replace(device("meter", reachable=False), name="lost", bus="rs485", unit=77),
    }
    try:
        started = time.monotonic()
        scans = quick_scans({"rs485": bus}, readings, str(peers.ROOT / "config" / "profiles"), {"rs485": link})
        took = time.monotonic() - started
        found = [f["unit"] for f in scans["rs485"]["found"]]
        assert 105 in found and 77 not in found
        # 33 silent unit ids at 2 s and a retry each would take over two minutes; at 0.1 s they take seconds.
        assert scans["rs485"]["units_asked"] == 34 and took < 60, took  # 1-32, and the configured 105 and 77
        assert link.bus.timeout_s == 2.0 and link._client.comm_params.timeout_connect == 2.0
        assert link.read(105, "input", 0, 2)  # the poller reads on as before
    finally:
        link.release()
