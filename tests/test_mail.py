"""The outbox and its SMTP delivery, against a real SMTP server (aiosmtpd) on loopback."""

import datetime as dt
import logging
import re
import ssl

from aiosmtpd.smtp import AuthResult

from halls import db, mail
from tests.helpers import assert_error, key_and_certificate, ok_data, run_at_once
from tests.smtp import body, free_port, start_smtp

MINUTE = dt.timedelta(minutes=1)


def later(**delta):
    return dt.datetime.now(dt.UTC) + dt.timedelta(**delta)


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
    assert stored["attempts"] == 0
    assert stored["created_at"].tzinfo is not None
    assert stored["next_attempt_at"] == stored["created_at"]
    lines = [record for record in caplog.records if record.name == "halls.mail"]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO
    assert "zara@example.com" in lines[0].getMessage() and "Hello" in lines[0].getMessage()
    assert "plain words" not in caplog.text
    # Nothing to deliver with: the message stays exactly as it was.
    assert mail.send_outbox() == {"sent": 0, "failed": 0, "gave_up": 0}
    assert db.outbox().find_one({"_id": message_id}) == stored


def test_send_mail_only_queues_even_when_smtp_is_set(app, smtp_server):
    recorder = smtp_server()
    message_id = mail.send_mail("zara@example.com", "Hello", "plain words")
    assert recorder.messages == []
    assert db.outbox().find_one({"_id": message_id})["status"] == "queued"


def test_send_outbox_delivers_and_marks_sent(app, smtp_server):
    recorder = smtp_server()
    message_id = mail.send_mail("zara@example.com", "Hello", "plain words", kind="greeting")
    assert mail.send_outbox() == {"sent": 1, "failed": 0, "gave_up": 0}
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
    assert stored["status"] == "sent" and stored["attempts"] == 1
    assert stored["sent_at"] >= stored["created_at"]
    # Delivered mail leaves no copy of its body (it may hold a reset token), and is not due.
    assert "text" not in stored and "html" not in stored and "next_attempt_at" not in stored
    assert mail.send_outbox() == {"sent": 0, "failed": 0, "gave_up": 0}
    assert len(recorder.messages) == 1


def test_smtp_sends_html_as_an_alternative(app, smtp_server):
    recorder = smtp_server()
    mail.send_mail("zara@example.com", "Hello", "plain words", html="<p>rich words</p>")
    mail.send_outbox()
    message = recorder.messages[0]["message"]
    assert message.get_content_type() == "multipart/alternative"
    assert body(message, "plain").strip() == "plain words"
    assert body(message, "html").strip() == "<p>rich words</p>"


def test_one_run_sends_over_one_connection_oldest_first(app, smtp_server):
    recorder = smtp_server()
    for n in range(3):
        mail.send_mail("zara@example.com", f"Message {n}", "words")
    assert mail.send_outbox()["sent"] == 3
    assert [m["message"]["Subject"] for m in recorder.messages] == [
        "Message 0",
        "Message 1",
        "Message 2",
    ]
    assert len({m["peer"] for m in recorder.messages}) == 1


def test_send_outbox_respects_its_limit(app, smtp_server):
    recorder = smtp_server()
    for n in range(3):
        mail.send_mail("zara@example.com", f"Message {n}", "words")
    assert mail.send_outbox(limit=2)["sent"] == 2
    assert len(recorder.messages) == 2
    assert db.outbox().count_documents({"status": "queued"}) == 1


def _authenticator(server, session, envelope, mechanism, auth_data):
    success = (auth_data.login, auth_data.password) == (b"mailer", b"s3cret")
    return AuthResult(success=success, handled=False, auth_data=auth_data)


def test_smtp_logs_in_when_a_user_is_set(app, smtp_server):
    recorder = smtp_server(authenticator=_authenticator, auth_require_tls=False)
    app.config.update(SMTP_USER="mailer", SMTP_PASSWORD="s3cret")
    message_id = mail.send_mail("zara@example.com", "Hello", "plain words")
    mail.send_outbox()
    assert recorder.messages[0]["login"] == b"mailer"
    assert db.outbox().find_one({"_id": message_id})["status"] == "sent"


def test_smtp_wrong_credentials_mark_the_message_failed(app, smtp_server):
    recorder = smtp_server(authenticator=_authenticator, auth_require_tls=False)
    app.config.update(SMTP_USER="mailer", SMTP_PASSWORD="wrong")
    message_id = mail.send_mail("zara@example.com", "Hello", "plain words")
    assert mail.send_outbox() == {"sent": 0, "failed": 1, "gave_up": 0}
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
    mail.send_outbox()
    assert recorder.messages[0]["tls"] is True
    assert db.outbox().find_one({"_id": message_id})["status"] == "sent"


def test_starttls_required_but_not_offered_fails_safely(app, smtp_server):
    recorder = smtp_server()
    app.config["SMTP_STARTTLS"] = True
    message_id = mail.send_mail("zara@example.com", "Hello", "plain words")
    mail.send_outbox()
    assert recorder.messages == []
    stored = db.outbox().find_one({"_id": message_id})
    assert stored["status"] == "failed"
    assert "STARTTLS" in stored["error"]


def test_a_refused_message_is_retried_after_a_doubling_wait(app, smtp_server):
    recorder = smtp_server()
    recorder.refuse = 3
    message_id = mail.send_mail("zara@example.com", "Hello", "plain words")
    waits = []
    for attempt in (1, 2, 3):
        # An hour apart: far enough for any wait so far, so the message is due again.
        at = later(hours=attempt)
        assert mail.send_outbox(now=at)["failed"] == 1
        stored = db.outbox().find_one({"_id": message_id})
        assert stored["status"] == "failed" and stored["attempts"] == attempt
        assert "451" in stored["error"]
        waits.append(stored["next_attempt_at"] - at)
    # 1, 2 and 4 minutes after each attempt (BSON keeps milliseconds only).
    for wait, expected in zip(waits, (1, 2, 4), strict=True):
        assert abs(wait - expected * MINUTE) < dt.timedelta(milliseconds=2)
    assert recorder.messages == []
    # Not yet due: nothing is tried.
    stored = db.outbox().find_one({"_id": message_id})
    assert mail.send_outbox(now=stored["next_attempt_at"] - dt.timedelta(seconds=1)) == {
        "sent": 0,
        "failed": 0,
        "gave_up": 0,
    }
    assert db.outbox().find_one({"_id": message_id}) == stored
    # Due: the server accepts this time.
    assert mail.send_outbox(now=stored["next_attempt_at"])["sent"] == 1
    assert len(recorder.messages) == 1
    stored = db.outbox().find_one({"_id": message_id})
    assert stored["status"] == "sent" and stored["attempts"] == 4


def test_the_wait_doubles_up_to_an_hour():
    assert [mail.retry_wait(n, 60) for n in (1, 2, 3, 7, 20)] == [
        MINUTE,
        2 * MINUTE,
        4 * MINUTE,
        60 * MINUTE,
        60 * MINUTE,
    ]


def test_the_sender_gives_up_after_the_last_attempt(app, smtp_server, caplog):
    recorder = smtp_server()
    app.config["MAIL_MAX_ATTEMPTS"] = 3
    recorder.refuse = 10
    message_id = mail.send_mail("zara@example.com", "Hello", "plain words")
    assert mail.send_outbox(now=later(hours=1))["failed"] == 1
    assert mail.send_outbox(now=later(hours=2))["failed"] == 1
    assert mail.send_outbox(now=later(hours=3)) == {"sent": 0, "failed": 0, "gave_up": 1}
    stored = db.outbox().find_one({"_id": message_id})
    assert stored["status"] == "failed" and stored["attempts"] == 3
    assert stored["gave_up_at"] is not None and "next_attempt_at" not in stored
    assert "given up" in caplog.text
    # Never tried again, however long we wait.
    assert mail.send_outbox(now=later(days=30)) == {"sent": 0, "failed": 0, "gave_up": 0}
    assert recorder.refuse == 7


def test_a_server_that_is_down_then_up(app):
    port = free_port()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_STARTTLS=False)
    first = mail.send_mail("zara@example.com", "First", "words")
    second = mail.send_mail("zara@example.com", "Second", "words")
    # Unreachable: the first fails and the run stops; the second is not tried in vain.
    assert mail.send_outbox() == {"sent": 0, "failed": 1, "gave_up": 0}
    assert db.outbox().find_one({"_id": first})["status"] == "failed"
    assert db.outbox().find_one({"_id": second})["status"] == "queued"
    recorder, controller = start_smtp(app, port=port)
    try:
        assert mail.send_outbox(now=later(minutes=2))["sent"] == 2
    finally:
        controller.stop()
    assert {m["message"]["Subject"] for m in recorder.messages} == {"First", "Second"}


def test_a_message_left_sending_is_taken_over_after_its_lease(app, smtp_server):
    recorder = smtp_server()
    message_id = mail.send_mail("zara@example.com", "Hello", "plain words")
    # A sender claims it and dies before it could send or record anything.
    claimed = mail._claim({}, dt.datetime.now(dt.UTC))
    assert claimed["_id"] == message_id and claimed["status"] == "sending"
    assert mail.send_outbox()["sent"] == 0
    assert recorder.messages == []
    assert mail.send_outbox(now=later(minutes=6))["sent"] == 1
    stored = db.outbox().find_one({"_id": message_id})
    assert stored["status"] == "sent" and stored["attempts"] == 2


def test_a_sender_that_lost_its_claim_records_nothing(app):
    message_id = mail.send_mail("zara@example.com", "Hello", "plain words")
    first = mail._claim({}, dt.datetime.now(dt.UTC))
    second = mail._claim({}, later(minutes=6))
    assert second["attempts"] == 2
    mail._record_sent(first, dt.datetime.now(dt.UTC))
    stored = db.outbox().find_one({"_id": message_id})
    assert stored["status"] == "sending" and stored["text"] == "plain words"


def test_two_senders_never_send_one_message_twice(app, smtp_server):
    recorder = smtp_server()
    subjects = [f"Message {n}" for n in range(20)]
    for subject in subjects:
        mail.send_mail("zara@example.com", subject, "words")
    results = run_at_once([lambda _: mail.send_outbox()] * 4, app.app_context)
    assert sum(result["sent"] for result in results) == 20
    assert sorted(m["message"]["Subject"] for m in recorder.messages) == sorted(subjects)
    assert db.outbox().count_documents({"status": "sent", "attempts": 1}) == 20


def test_messages_from_before_retries_are_sent(app, smtp_server):
    recorder = smtp_server()
    now = dt.datetime.now(dt.UTC)
    old = {"to": "zara@example.com", "subject": "Old", "text": "words", "html": None}
    db.outbox().insert_many(
        [
            {**old, "status": "queued", "created_at": now, "updated_at": now},
            {**old, "status": "failed", "error": "boom", "created_at": now, "updated_at": now},
        ]
    )
    assert mail.send_outbox()["sent"] == 2
    assert len(recorder.messages) == 2
    assert db.outbox().count_documents({"status": "sent", "attempts": 1}) == 2


def test_a_templated_message_is_rendered_when_delivered_and_a_broken_one_fails_alone(
    app, smtp_server
):
    recorder = smtp_server()
    context = {"name": "Zara", "link": "https://halls.example.pk/reset", "token": "abc123"}
    good, broken = mail.queue(
        [
            {
                "to": "zara@example.com",
                "subject": "Reset",
                "kind": "password_reset",
                "template": "password_reset",
                "context": context,
            },
            {
                "to": "yusuf@example.com",
                "subject": "Oops",
                "kind": "general",
                "template": "no_such_template",
                "context": {},
            },
        ]
    )
    queued = db.outbox().find_one({"_id": good})
    assert queued["context"] == context and "text" not in queued
    assert mail.send_outbox() == {"sent": 1, "failed": 1, "gave_up": 0}
    (received,) = recorder.messages
    assert received["rcpt_tos"] == ["zara@example.com"]
    assert "use this token in the app: abc123" in body(received["message"], "plain")
    assert "<code>abc123</code>" in body(received["message"], "html")
    # Delivered: neither the bodies nor what they were rendered from (the token) are kept.
    sent = db.outbox().find_one({"_id": good})
    assert sent["status"] == "sent" and "context" not in sent and "text" not in sent
    failed = db.outbox().find_one({"_id": broken})
    assert failed["status"] == "failed" and "no_such_template" in failed["error"]
    assert failed["next_attempt_at"] > failed["updated_at"]


def test_a_request_delivers_its_mail_after_the_response(app, client, customer, smtp_server):
    user, _ = customer
    recorder = smtp_server()
    response = client.post("/auth/forgot-password", json={"email": user["email"]})
    ok_data(response)
    # The response is complete and nothing has been sent yet ...
    assert recorder.messages == []
    assert db.outbox().find_one()["status"] == "queued"
    # ... delivery runs once the server has finished with the response.
    response.close()
    assert len(recorder.messages) == 1
    assert db.outbox().find_one()["status"] == "sent"


def test_unreachable_smtp_marks_failed_and_the_request_still_succeeds(app, client, customer):
    user, _ = customer
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=free_port(), SMTP_STARTTLS=False)
    with client.post("/auth/forgot-password", json={"email": user["email"]}) as response:
        ok_data(response)
    stored = db.outbox().find_one()
    assert stored["status"] == "failed" and stored["attempts"] == 1
    assert stored["error"]
    assert stored["next_attempt_at"] > stored["updated_at"]
    assert db.password_resets().count_documents({"user_id": user["_id"]}) == 1


def test_an_error_after_the_response_is_logged_not_raised(
    app, client, customer, smtp_server, monkeypatch, caplog
):
    user, _ = customer
    smtp_server()

    def broken(*args, **kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr(mail, "deliver", broken)
    with client.post("/auth/forgot-password", json={"email": user["email"]}) as response:
        ok_data(response)
    assert "send-outbox will retry" in caplog.text
    assert db.outbox().find_one()["status"] == "queued"


def test_reset_mail_over_smtp_carries_a_working_token(app, client, customer, smtp_server):
    user, _ = customer
    recorder = smtp_server()
    app.config["PUBLIC_BASE_URL"] = "https://halls.example.pk"
    with client.post("/auth/forgot-password", json={"email": user["email"]}) as response:
        ok_data(response)
    (received,) = recorder.messages
    assert received["rcpt_tos"] == [user["email"]]
    assert received["message"]["Subject"] == "Reset your Halls password"
    link = r"https://halls\.example\.pk/reset-password\?token=([\w-]+)"
    text = body(received["message"], "plain")
    token = re.search(link, text).group(1)
    assert f"use this token in the app: {token}" in text
    assert "Cyrus Customer" in text
    html = body(received["message"], "html")
    assert f'href="https://halls.example.pk/reset-password?token={token}"' in html
    assert f"<code>{token}</code>" in html
    stored = db.outbox().find_one()
    assert stored["status"] == "sent" and stored["kind"] == "password_reset"
    assert token not in str(stored)
    reset = {"token": token, "new_password": "a new password"}
    ok_data(client.post("/auth/reset-password", json=reset))
    assert_error(client.post("/auth/reset-password", json=reset), 400, "invalid_reset_token")


def test_cli_send_outbox(app, smtp_server):
    recorder = smtp_server()
    mail.send_mail("zara@example.com", "Hello", "words")
    # A templated message is rendered by the command, outside any request.
    context = {"name": "Omar", "link": "https://halls.example.pk/r", "token": "t0k"}
    mail.queue(
        [
            {
                "to": "omar@example.com",
                "subject": "Reset",
                "kind": "password_reset",
                "template": "password_reset",
                "context": context,
            }
        ]
    )
    result = app.test_cli_runner().invoke(args=["send-outbox"])
    assert result.exit_code == 0, result.output
    assert "sent 2, failed 0, gave up 0" in result.output
    received = {m["rcpt_tos"][0]: m["message"] for m in recorder.messages}
    assert sorted(received) == ["omar@example.com", "zara@example.com"]
    assert "Hello Omar," in body(received["omar@example.com"], "plain")


def test_cli_send_outbox_without_smtp_says_why(app):
    mail.send_mail("zara@example.com", "Hello", "words")
    result = app.test_cli_runner().invoke(args=["send-outbox"])
    assert result.exit_code == 1
    assert "SMTP_HOST is not set; 1 messages wait in the outbox" in result.output
    assert db.outbox().find_one()["status"] == "queued"
