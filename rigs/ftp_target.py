#!/usr/bin/env python3
"""A real FTP/FTPS server (pyftpdlib) as an OCPP upload target for the tests and the bench.

    ftp_target.py --root DIR [--cert CERT --key KEY] [--drop-after BYTES] [--user U --password P]

With --cert it speaks FTPS (explicit: AUTH TLS, protected data channel required). --drop-after cuts the first
upload's data connection after that many bytes, as a flaky mobile link does, so resuming can be tested.
Prints one JSON line {"port": ...} once it listens.
"""

from __future__ import annotations

import argparse
import json
import sys


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--user", default="csms")
    ap.add_argument("--password", default="upload-secret")
    ap.add_argument("--drop-after", type=int, default=0)
    args = ap.parse_args()

    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import DTPHandler, FTPHandler
    from pyftpdlib.servers import FTPServer

    authorizer = DummyAuthorizer()
    authorizer.add_user(args.user, args.password, args.root, perm="elradfmwMT")
    if args.cert:
        from pyftpdlib.handlers import TLS_DTPHandler, TLS_FTPHandler

        handler, dtp = TLS_FTPHandler, TLS_DTPHandler
        handler.certfile, handler.keyfile = args.cert, args.key
        handler.tls_control_required = handler.tls_data_required = True
    else:
        handler, dtp = FTPHandler, DTPHandler
    dropped: list[int] = []

    class FlakyDTP(dtp):  # type: ignore[valid-type,misc]  # FTP or FTPS, chosen above
        ac_in_buffer_size = 1024 if args.drop_after else dtp.ac_in_buffer_size  # small reads: a cut in the middle

        def handle_read_event(self):  # (pyftpdlib aliases it to handle_read; the TLS mixin wraps it)
            super().handle_read_event()
            if args.drop_after and not dropped and self.tot_bytes_received >= args.drop_after and self.file_obj:
                dropped.append(self.tot_bytes_received)
                self.file_obj.flush()
                self.close()  # the link breaks mid-upload: the client must come back and resume

    handler.authorizer, handler.dtp_handler = authorizer, FlakyDTP
    handler.passive_ports = None
    server = FTPServer(("127.0.0.1", 0), handler)
    print(json.dumps({"port": server.socket.getsockname()[1]}), flush=True)
    server.serve_forever(handle_exit=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
