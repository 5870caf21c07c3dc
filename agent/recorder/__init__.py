"""The flight recorder: what the box saw before a power cut, a watchdog restart or a crash survives it
(flight.py); its settings are config.py's RecorderConfig."""

from agent.recorder.flight import Recorder, judge_last_stop

__all__ = ["Recorder", "judge_last_stop"]
