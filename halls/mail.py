"""Outgoing mail through the `outbox` collection: stored first, delivered by SMTP afterwards.

`send_mail` and `queue` only write messages to the outbox, so mail never fails or slows the
request that asked for it. A message either carries its bodies (`text`, `html`) or names its
template with the data it shows (`template`, `context`): those are rendered from
`templates/email/<template>.txt|.html` when the message is delivered, not in the request.
When SMTP_HOST is set, the messages a request queued are delivered right after its response
has gone out (`response.call_on_close`). Whatever that misses (a failure, mail queued by a CLI
command) waits for `flask --app wsgi send-outbox`, run from cron every minute.

A message goes queued -> sending -> sent, or -> failed when an attempt does not go through.
A failed message is tried again at `next_attempt_at`, the wait doubling each time
(MAIL_RETRY_BASE_SECONDS, then 2x, 4x ... at most an hour) until MAIL_MAX_ATTEMPTS; then it
stays failed with `gave_up_at` and no `next_attempt_at`. A sender claims a message with one
find_one_and_update that sets `sending` and moves `next_attempt_at` a lease ahead, so two
senders never send one message at once, and a sender that dies mid-send only delays the
message until the lease is over (then it is sent again: delivery is at least once).
Without SMTP_HOST nothing is delivered: every message is stored and logged.
"""

import datetime as dt
import logging
import smtplib
import ssl
from collections.abc import Iterable, Mapping
from email.message import EmailMessage
from typing import Any

from bson import ObjectId
from flask import (
    Flask,
    after_this_request,
    current_app,
    has_request_context,
    render_template,
    request,
)
from pymongo import ASCENDING, ReturnDocument

from halls import clock, db
from halls.documents import Mail, MailBody, OutboxMessage

log = logging.getLogger("halls.mail")

SMTP_TIMEOUT_SECONDS = 10
# Longer than one SMTP conversation can take (a few timeouts): a live sender is never overtaken.
LEASE = dt.timedelta(minutes=5)
MAX_RETRY_WAIT = dt.timedelta(hours=1)
DUE = ("queued", "failed", "sending")
# The server refused this one message; the connection is still good for the next.
MESSAGE_ERRORS = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError)


def send_mail(
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    kind: str = "general",
    booking_id: ObjectId | None = None,
) -> ObjectId:
    """Queue a message whose bodies are written (delivered after the response when SMTP is set)."""
    message: Mail = {"to": to, "subject": subject, "text": text, "html": html, "kind": kind}
    if booking_id is not None:
        message["booking_id"] = booking_id
    return queue([message])[0]


def queue(messages: list[Mail]) -> list[ObjectId]:
    """Write messages (to, subject, kind, bodies or template and context) in one go; their ids.

    A templated message keeps only the (BSON-safe) data its template shows: rendering is left
    to delivery, which takes it off every request that sends mail.
    """
    if not messages:
        return []
    now = clock.now()
    stored: list[OutboxMessage] = [
        {
            **message,
            "_id": ObjectId(),
            "status": "queued",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for message in messages
    ]
    # Ordered: the messages of one event are written in the order they were made.
    ids = db.outbox().insert_many(stored, ordered=True).inserted_ids
    # One line for the lot: who hears what, never the bodies.
    queued = "; ".join(f"to={m['to']} subject={m['subject']} kind={m['kind']}" for m in messages)
    if current_app.config.get("SMTP_HOST"):
        log.info("mail queued: %s", queued)
        _deliver_after_response(ids)
    else:
        log.info("mail queued in the outbox (no SMTP_HOST): %s", queued)
    return ids


def rendered(message: MailBody) -> tuple[str, str | None]:
    """A message's text and HTML bodies: as stored, or rendered now from its template."""
    if "text" in message:  # written by its sender (and every message queued before templates)
        return message["text"], message.get("html")
    context = {**message["context"], "money": money}
    text, html = (
        render_template(f"email/{message['template']}.{part}", **context)
        for part in ("txt", "html")
    )
    return text, html


def money(amount: int | None) -> str:
    """Integer PKR as people read it: PKR 125,000."""
    if amount is None:
        return "—"
    sign = "-" if amount < 0 else ""
    return f"{sign}PKR {abs(amount):,}"


def _deliver_after_response(message_ids: list[ObjectId]) -> None:
    if not has_request_context():
        return
    # Kept on the request, not on g: the app context (and g) may outlive one request.
    ids = request.environ.get("halls.mail_ids")
    if ids is None:
        ids = request.environ["halls.mail_ids"] = []
        # The app itself, not the proxy: the callback runs outside any app context. Flask
        # types current_app as its app, so the proxy's own method is not in that type.
        app = current_app._get_current_object()  # type: ignore[attr-defined]

        @after_this_request
        def deliver_on_close(response):
            response.call_on_close(lambda: _deliver_quietly(app, ids))
            return response

    ids.extend(message_ids)


def _deliver_quietly(app: Flask, message_ids: list[ObjectId]) -> None:
    # Runs after the response, outside any request: an error here has nobody to report to.
    with app.app_context():
        try:
            deliver(message_ids)
        except Exception:
            log.exception("delivering mail after the response failed; send-outbox will retry")


def send_outbox(limit: int = 500, now: dt.datetime | None = None) -> dict[str, int]:
    """Deliver every due message (queued, or failed and past its back-off); counts by result."""
    now = now or clock.now()
    # Messages from before retries existed have no next_attempt_at: make them due once.
    db.outbox().update_many(
        {
            "status": {"$in": ["queued", "failed"]},
            "next_attempt_at": {"$exists": False},
            "gave_up_at": {"$exists": False},
        },
        {"$set": {"next_attempt_at": now}},
    )
    return deliver(None, limit=limit, now=now)


def deliver(
    message_ids: Iterable[ObjectId] | None = None,
    limit: int = 500,
    now: dt.datetime | None = None,
) -> dict[str, int]:
    """Send due messages (only these ids when given) over one SMTP connection."""
    config = current_app.config
    counts = {"sent": 0, "failed": 0, "gave_up": 0}
    if not config.get("SMTP_HOST"):
        return counts
    scope = {} if message_ids is None else {"_id": {"$in": list(message_ids)}}
    smtp = None
    try:
        for _ in range(limit):
            at = now or clock.now()
            message = _claim(scope, at)
            if message is None:
                break
            try:
                email = _email(config, message)
            except Exception as error:  # a broken template or context: this message alone
                log.exception("mail %s could not be rendered", message["_id"])
                counts[_record_failure(message, error, config, at)] += 1
                continue
            try:
                smtp = smtp or _connect(config)
                smtp.send_message(email)
            except (smtplib.SMTPException, OSError) as error:
                counts[_record_failure(message, error, config, at)] += 1
                _close(smtp)
                smtp = None
                if not isinstance(error, MESSAGE_ERRORS):
                    break  # the server is unreachable or refuses us: the rest wait their turn
            else:
                _record_sent(message, at)
                counts["sent"] += 1
    finally:
        _close(smtp)
    return counts


def _claim(scope: Mapping[str, Any], now: dt.datetime) -> OutboxMessage | None:
    # One atomic step: of two senders, only one moves a due message to `sending`.
    return db.outbox().find_one_and_update(
        {**scope, "status": {"$in": list(DUE)}, "next_attempt_at": {"$lte": now}},
        {
            "$set": {"status": "sending", "next_attempt_at": now + LEASE, "updated_at": now},
            "$inc": {"attempts": 1},
        },
        sort=[("next_attempt_at", ASCENDING)],
        return_document=ReturnDocument.AFTER,
    )


def _connect(config: Mapping[str, Any]) -> smtplib.SMTP:
    smtp = smtplib.SMTP(config["SMTP_HOST"], config["SMTP_PORT"], timeout=SMTP_TIMEOUT_SECONDS)
    try:
        if config["SMTP_STARTTLS"]:
            smtp.starttls(context=ssl.create_default_context())
        if config.get("SMTP_USER"):
            smtp.login(config["SMTP_USER"], config.get("SMTP_PASSWORD") or "")
    except BaseException:
        _close(smtp)
        raise
    return smtp


def _close(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


def _email(config: Mapping[str, Any], message: OutboxMessage) -> EmailMessage:
    email = EmailMessage()
    email["From"] = config["MAIL_FROM"]
    email["To"] = message["to"]
    email["Subject"] = message["subject"]
    text, html = rendered(message)
    email.set_content(text)
    if html:
        email.add_alternative(html, subtype="html")
    return email


def retry_wait(attempts: int, base_seconds: float) -> dt.timedelta:
    """How long to wait after the given number of failed attempts: doubling, at most an hour."""
    return min(dt.timedelta(seconds=base_seconds * 2 ** (attempts - 1)), MAX_RETRY_WAIT)


def _record_failure(
    message: OutboxMessage, error: Exception, config: Mapping[str, Any], now: dt.datetime
) -> str:
    error_text = str(error) or type(error).__name__
    fields = {"status": "failed", "error": error_text, "updated_at": now}
    update = {"$set": fields}
    if message["attempts"] >= config["MAIL_MAX_ATTEMPTS"]:
        fields["gave_up_at"] = now
        update["$unset"] = {"next_attempt_at": ""}
        result = "gave_up"
        log.error(
            "mail to %s given up after %s attempts: %s",
            message["to"],
            message["attempts"],
            error_text,
        )
    else:
        fields["next_attempt_at"] = now + retry_wait(
            message["attempts"], config["MAIL_RETRY_BASE_SECONDS"]
        )
        result = "failed"
        log.warning(
            "mail to %s failed (attempt %s): %s", message["to"], message["attempts"], error_text
        )
    _update_claimed(message, update)
    return result


def _record_sent(message: OutboxMessage, now: dt.datetime) -> None:
    # The body may carry a secret (a reset token): once delivered, the outbox keeps no copy of
    # it, nor of what it was rendered from.
    _update_claimed(
        message,
        {
            "$set": {"status": "sent", "sent_at": now, "updated_at": now},
            "$unset": {"text": "", "html": "", "context": "", "next_attempt_at": ""},
        },
    )


def _update_claimed(message: OutboxMessage, update: Mapping[str, Any]) -> None:
    # Only while our claim stands: a sender that took over after the lease owns the message now.
    db.outbox().update_one(
        {"_id": message["_id"], "status": "sending", "attempts": message["attempts"]}, update
    )
