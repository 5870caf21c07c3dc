"""The command line's exit codes, in one place: their numbers, and what each command's --help says of them."""

from __future__ import annotations

import argparse

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_CONFIG = 2
EXIT_QUEUED = 3
EXIT_CODES = {
    "": "0 done; 1 failed (the message says why); 2 the configuration or an argument is wrong (file, line, key)",
    "report": "0 delivered (the case number is printed); 1 not made; 2 the request or the configuration is wrong; "
    "3 saved on the box, not delivered yet: it goes out by itself",
    "check": "0 no check fails; 1 a check fails (its hint says what to do); 2 the configuration is wrong",
    "inspect": "0 every checksum is right; 1 the bundle is damaged or cannot be read",
    "answer": "0 saved, it goes to the case; 1 refused (the message says why); 2 the configuration is wrong",
    "ocpp-log": "0 Uploaded; 1 any other final status; 3 the request did not end within --wait",
    "event": "0 taken by the daemon; 1 refused by it (the message says why); 2 a field or the configuration is "
    "wrong; 3 the daemon is not running: queued, taken in when it starts",
    "check-config": "0 valid (warnings are printed); 2 wrong: the message names the file, line and key",
    "poll": "0 every device answered; 1 a device did not (its error is printed); 2 the configuration is wrong",
    "status": "0 printed; 1 the daemon is not running; 2 the configuration is wrong",
    "scan": "0 something answered; 1 nothing answered on any bus; 2 a bus, the unit ids or the configuration is wrong",
    "run": "0 stopped in order; 1 could not start (the log says why); 2 the configuration is wrong",
}


def say_exit_codes(sub) -> None:
    """Every command's --help ends with what its exit code says."""
    for name, parser in sub.choices.items():
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
        parser.epilog = "exit codes: " + EXIT_CODES.get(name, EXIT_CODES[""])
