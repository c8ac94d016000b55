"""The outbox and SMTP delivery, against a real SMTP server (aiosmtpd) on loopback."""

import email
import email.policy
import logging
import re
import socket
import ssl

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from halls import db, mail
from tests.helpers import assert_error, key_and_certificate, ok_data


class Recorder:
    """An SMTP handler that keeps what it was sent."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            {
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "message": email.message_from_bytes(envelope.content, policy=email.policy.default),
                "tls": session.ssl is not None,
                "login": session.auth_data.login if session.authenticated else None,
            }
        )
        return "250 Message accepted for delivery"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server(request, app):
    """Start an SMTP server on loopback and point the app at it (no STARTTLS, no login)."""
    servers = []

    def start(**smtp_options):
        recorder = Recorder()
        controller = Controller(recorder, hostname="127.0.0.1", port=free_port(), **smtp_options)
        controller.start()
        servers.append(controller)
        app.config.update(
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=controller.port,
            SMTP_STARTTLS=False,
            SMTP_USER=None,
            SMTP_PASSWORD=None,
        )
        return recorder

    yield start
    for controller in servers:
        controller.stop()


def test_without_smtp_the_message_waits_in_the_outbox(app, caplog):
    caplog.set_level(logging.INFO, logger="halls.mail")
    message_id = mail.send_mail(
        "zara@example.com", "Hello", "plain words", html="<p>words</p>", kind="greeting"
    )
    stored = db.outbox().find_one({"_id": message_id})
    assert stored["to"] == "zara@example.com"
    assert stored["subject"] == "Hello"
    assert stored["text"] == "plain words"
    assert stored["html"] == "<p>words</p>"
    assert stored["kind"] == "greeting"
    assert stored["status"] == "queued"
    assert stored["created_at"].tzinfo is not None
    lines = [record for record in caplog.records if record.name == "halls.mail"]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO
    assert "zara@example.com" in lines[0].getMessage() and "Hello" in lines[0].getMessage()
    assert "plain words" not in caplog.text


def test_smtp_delivers_and_marks_sent(app, smtp_server):
    recorder = smtp_server()
    message_id = mail.send_mail("zara@example.com", "Hello", "plain words", kind="greeting")
    (received,) = recorder.messages
    assert received["mail_from"] == "no-reply@halls.local"
    assert received["rcpt_tos"] == ["zara@example.com"]
    assert received["tls"] is False and received["login"] is None
    message = received["message"]
    assert message["Subject"] == "Hello"
    assert message["To"] == "zara@example.com"
    assert message["From"] == "Halls <no-reply@halls.local>"
    assert message.get_content().strip() == "plain words"
    stored = db.outbox().find_one({"_id": message_id})
    assert stored["status"] == "sent"
    assert stored["sent_at"] >= stored["created_at"]
    # Delivered mail leaves no copy of its body (it may hold a reset token).
    assert "text" not in stored and "html" not in stored


def test_smtp_sends_html_as_an_alternative(app, smtp_server):
    recorder = smtp_server()
    mail.send_mail("zara@example.com", "Hello", "plain words", html="<p>rich words</p>")
    message = recorder.messages[0]["message"]
    assert message.get_content_type() == "multipart/alternative"
    assert message.get_body(("plain",)).get_content().strip() == "plain words"
    assert message.get_body(("html",)).get_content().strip() == "<p>rich words</p>"


def _authenticator(server, session, envelope, mechanism, auth_data):
    success = (auth_data.login, auth_data.password) == (b"mailer", b"s3cret")
    return AuthResult(success=success, handled=False, auth_data=auth_data)


def test_smtp_logs_in_when_a_user_is_set(app, smtp_server):
    recorder = smtp_server(authenticator=_authenticator, auth_require_tls=False)
    app.config.update(SMTP_USER="mailer", SMTP_PASSWORD="s3cret")
    message_id = mail.send_mail("zara@example.com", "Hello", "plain words")
    assert recorder.messages[0]["login"] == b"mailer"
    assert db.outbox().find_one({"_id": message_id})["status"] == "sent"


def test_smtp_wrong_credentials_mark_the_message_failed(app, smtp_server):
    recorder = smtp_server(authenticator=_authenticator, auth_require_tls=False)
    app.config.update(SMTP_USER="mailer", SMTP_PASSWORD="wrong")
    message_id = mail.send_mail("zara@example.com", "Hello", "plain words")
    assert recorder.messages == []
    stored = db.outbox().find_one({"_id": message_id})
    assert stored["status"] == "failed"
    assert "535" in stored["error"]
    assert stored["text"] == "plain words"


def test_smtp_starttls(app, smtp_server, tmp_path, monkeypatch):
    key_pem, cert_pem = key_and_certificate("127.0.0.1", ip="127.0.0.1")
    (tmp_path / "key.pem").write_bytes(key_pem)
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    recorder = smtp_server(tls_context=server_context, require_starttls=True)
    app.config["SMTP_STARTTLS"] = True
    # Our client verifies the server as always; it just also trusts the test certificate.
    default_context = ssl.create_default_context
    monkeypatch.setattr(
        mail.ssl, "create_default_context", lambda: default_context(cadata=cert_pem.decode())
    )
    message_id = mail.send_mail("zara@example.com", "Hello", "over tls")
    assert recorder.messages[0]["tls"] is True
    assert db.outbox().find_one({"_id": message_id})["status"] == "sent"


def test_starttls_required_but_not_offered_fails_safely(app, smtp_server):
    recorder = smtp_server()
    app.config["SMTP_STARTTLS"] = True
    message_id = mail.send_mail("zara@example.com", "Hello", "plain words")
    assert recorder.messages == []
    stored = db.outbox().find_one({"_id": message_id})
    assert stored["status"] == "failed"
    assert "STARTTLS" in stored["error"]


def test_unreachable_smtp_marks_failed_and_the_request_still_succeeds(app, client, customer):
    user, _ = customer
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=free_port(), SMTP_STARTTLS=False)
    ok_data(client.post("/auth/forgot-password", json={"email": user["email"]}))
    stored = db.outbox().find_one()
    assert stored["status"] == "failed"
    assert stored["error"]
    assert db.password_resets().count_documents({"user_id": user["_id"]}) == 1


def test_reset_mail_over_smtp_carries_a_working_token(app, client, customer, smtp_server):
    user, _ = customer
    recorder = smtp_server()
    app.config["PUBLIC_BASE_URL"] = "https://halls.example.pk"
    ok_data(client.post("/auth/forgot-password", json={"email": user["email"]}))
    (received,) = recorder.messages
    assert received["rcpt_tos"] == [user["email"]]
    body = received["message"].get_content()
    token = re.search(r"https://halls\.example\.pk/reset-password\?token=([\w-]+)", body).group(1)
    assert f"use this token in the app: {token}" in body
    stored = db.outbox().find_one()
    assert stored["status"] == "sent" and stored["kind"] == "password_reset"
    assert token not in str(stored)
    reset = {"token": token, "new_password": "a new password"}
    ok_data(client.post("/auth/reset-password", json=reset))
    assert_error(client.post("/auth/reset-password", json=reset), 400, "invalid_reset_token")
