"""The devices on the fieldbus: profiles (register maps as YAML), the read planner and decoder, the one
pymodbus module, the poller that keeps to each bus's budget, and the history rings."""
