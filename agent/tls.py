"""The one way the agent makes a TLS client context: the backend's HTTPS, the MQTT broker, an FTPS upload and
the network check all verify the server the same way and present the box's certificate where it has one.

A network check that does not present the client certificate the backend asks for would fail where the
reports go through; one factory keeps the check and the delivery honest with each other."""

from __future__ import annotations

import ssl


class TlsFilesError(OSError):
    """The CA, certificate or key file cannot be read or used; the message names what to fix."""


def client_context(
    ca_file: str | None = None, cert_file: str | None = None, key_file: str | None = None
) -> ssl.SSLContext:
    """A verifying client context: the system's CAs, or CA_FILE; with CERT_FILE (and KEY_FILE), mutual TLS."""
    try:
        ctx = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
        if cert_file:
            ctx.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as exc:
        raise TlsFilesError(f"cannot read the TLS files: {getattr(exc, 'strerror', None) or exc}") from None
    return ctx
