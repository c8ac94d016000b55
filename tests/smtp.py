"""A real SMTP server (aiosmtpd) on loopback that keeps what it receives, for the mail tests."""

import email
import email.policy
import socket

from aiosmtpd.controller import Controller


class Recorder:
    """An SMTP handler that keeps what it was sent; `refuse` answers the next N DATA with 451."""

    def __init__(self):
        self.messages = []
        self.refuse = 0

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            self.refuse -= 1
            return "451 Try again later"
        self.messages.append(
            {
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "message": email.message_from_bytes(envelope.content, policy=email.policy.default),
                "tls": session.ssl is not None,
                "login": session.auth_data.login if session.authenticated else None,
                "peer": session.peer,
            }
        )
        return "250 Message accepted for delivery"


def free_port():
    """A loopback port nobody listens on (yet)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_smtp(app, port=None, **smtp_options):
    """Start a server on loopback and point the app at it (no STARTTLS, no login)."""
    recorder = Recorder()
    controller = Controller(
        recorder, hostname="127.0.0.1", port=port or free_port(), **smtp_options
    )
    controller.start()
    app.config.update(
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=controller.port,
        SMTP_STARTTLS=False,
        SMTP_USER=None,
        SMTP_PASSWORD=None,
    )
    return recorder, controller


def body(message, subtype):
    """The text of the plain or html part of a received message."""
    return message.get_body((subtype,)).get_content()
