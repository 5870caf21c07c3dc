"""The measuring tools, never shipped: the bench (bench.py with bench_deb.py and bench_helpdesk.py), the fleet on
a virtual clock and for real (fleet.py, fleet_real.py), the data budget's week (budget_run.py), the soak
(soak.py), a field day (field_day.py), the DST hour (dst_hour.py) and the demo (demo.py)."""
