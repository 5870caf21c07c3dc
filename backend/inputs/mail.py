"""E-mail input: a bundle mailed as an attachment (SMTP) lands in the case of its report id."""

from __future__ import annotations

import logging

from backend.rules.cases import CaseStore

log = logging.getLogger("intake")


def start_smtp(store: CaseStore, host: str, port: int):
    """The e-mail channel: a bundle mailed as an attachment lands in the case of its report id, the same
    case it gets when the box uploads it later."""
    import email
    import email.policy

    from aiosmtpd.controller import Controller

    class Mailroom:
        async def handle_DATA(self, server, session, envelope):
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            filed = []
            for part in message.iter_attachments():
                body = part.get_payload(decode=True) or b""
                if not body.startswith(b"\x1f\x8b"):  # not gzip: a signature, a logo
                    continue
                try:
                    from agent.report.bundle import read_bundle

                    manifest, _ = read_bundle(body)
                    receipt, _ = store.accept(body, str(manifest.get("report_id", "")), "email")
                    filed.append(receipt["case"])
                except Exception as exc:  # a damaged attachment is the sender's to resend
                    log.info("mail from %s: attachment refused: %s", envelope.mail_from, exc)
            if not filed:
                return "550 no readable report bundle attached"
            log.info("mail from %s filed in %s", envelope.mail_from, ", ".join(filed))
            return "250 filed in " + ", ".join(filed)

    if port == 0:  # aiosmtpd checks its listener by connecting to it: it needs the real port number
        import socket

        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
    controller = Controller(Mailroom(), hostname=host, port=port)
    controller.start()
    controller.port_in_use = port
    return controller
