"""Watching the box: the one judgement of every value and condition, the fault rules that debounce it,
the self-check that shows it with hints, and the event timeline."""
