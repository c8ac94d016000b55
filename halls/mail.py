"""Outgoing mail: every message goes into the outbox, and out by SMTP when SMTP_HOST is set."""

import datetime as dt
import logging
import smtplib
import ssl
from email.message import EmailMessage

from flask import current_app

from halls import db

log = logging.getLogger("halls.mail")

SMTP_TIMEOUT_SECONDS = 10


def send_mail(to, subject, text, html=None, kind="general"):
    """Queue a message in the outbox and deliver it now when SMTP is configured; never raises."""
    now = dt.datetime.now(dt.UTC)
    message = {
        "to": to,
        "subject": subject,
        "text": text,
        "html": html,
        "kind": kind,
        "status": "queued",
        "created_at": now,
        "updated_at": now,
    }
    message["_id"] = db.outbox().insert_one(message).inserted_id
    config = current_app.config
    if not config.get("SMTP_HOST"):
        log.info("mail queued in the outbox (no SMTP_HOST): to=%s subject=%s", to, subject)
        return message["_id"]
    try:
        _deliver(config, message)
    except (smtplib.SMTPException, OSError) as error:
        log.warning("mail to %s failed: %s", to, error)
        _mark(message["_id"], {"status": "failed", "error": str(error) or type(error).__name__})
    else:
        # The body may carry a secret (a reset token): once delivered, the outbox keeps no copy.
        _mark(
            message["_id"], {"status": "sent", "sent_at": dt.datetime.now(dt.UTC)}, drop_body=True
        )
    return message["_id"]


def _deliver(config, message):
    email = EmailMessage()
    email["From"] = config["MAIL_FROM"]
    email["To"] = message["to"]
    email["Subject"] = message["subject"]
    email.set_content(message["text"])
    if message["html"]:
        email.add_alternative(message["html"], subtype="html")
    with smtplib.SMTP(
        config["SMTP_HOST"], config["SMTP_PORT"], timeout=SMTP_TIMEOUT_SECONDS
    ) as smtp:
        if config["SMTP_STARTTLS"]:
            smtp.starttls(context=ssl.create_default_context())
        if config.get("SMTP_USER"):
            smtp.login(config["SMTP_USER"], config.get("SMTP_PASSWORD") or "")
        smtp.send_message(email)


def _mark(message_id, fields, drop_body=False):
    update = {"$set": {**fields, "updated_at": dt.datetime.now(dt.UTC)}}
    if drop_body:
        update["$unset"] = {"text": "", "html": ""}
    db.outbox().update_one({"_id": message_id}, update)
