"""The test rigs, never shipped: the peers the tests and the demo start on free loopback ports (peers.py,
backend_peers.py), the wallbox simulator (wallbox_sim.py), the field corpus's devices (field_devices.py), an OCPP
CSMS (ocpp_peer.py), an FTP target (ftp_target.py) and Debian roots (debian_roots.py)."""
