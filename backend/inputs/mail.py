"""E-mail input: a bundle mailed as an attachment (SMTP) lands in the case of its report id."""

from __future__ import annotations

import logging

from backend.rules.cases import CaseStore

log = logging.getLogger("intake")


class Mailroom:
    """The SMTP server's handler: each gzip attachment is a bundle filed by its report id."""

    def __init__(self, store: CaseStore):
        self.store = store

    async def handle_DATA(self, server, session, envelope):
        import email
        import email.policy

        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        filed = []
        for part in message.iter_attachments():
            body = part.get_payload(decode=True)
            if not isinstance(body, bytes) or not body.startswith(b"\x1f\x8b"):  # not gzip: a signature, a logo
                continue
            try:
                filed.append(self._file(body))
            except Exception as exc:  # a damaged attachment is the sender's to resend
                log.info("mail from %s: attachment refused: %s", envelope.mail_from, exc)
        if not filed:
            return "550 no readable report bundle attached"
        log.info("mail from %s filed in %s", envelope.mail_from, ", ".join(filed))
        return "250 filed in " + ", ".join(filed)

    def _file(self, body: bytes) -> str:
        from agent.report.bundle import read_bundle

        manifest, _ = read_bundle(body)
        receipt, _ = self.store.accept(body, str(manifest.get("report_id", "")), "email")
        return receipt["case"]


class Mail:
    """The e-mail input: an SMTP listener and the port it listens on."""

    def __init__(self, controller, port: int):
        self.controller, self.port = controller, port

    def stop(self) -> None:
        self.controller.stop()


def start_smtp(store: CaseStore, host: str, port: int) -> Mail:
    """The e-mail channel: a bundle mailed as an attachment lands in the case of its report id, the same
    case it gets when the box uploads it later."""
    from aiosmtpd.controller import Controller

    if port == 0:  # aiosmtpd checks its listener by connecting to it: it needs the real port number
        import socket

        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
    controller = Controller(Mailroom(store), hostname=host, port=port)
    controller.start()
    return Mail(controller, port)
