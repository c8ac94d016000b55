"""The reset mail's link: PASSWORD_RESET_URL, and the log line that shows it in development."""

import logging
import re

import pytest

from halls import config, db
from tests.helpers import ok_data


def forgot(client, email):
    return client.post("/auth/forgot-password", json={"email": email})


def reset_mail(email):
    return db.outbox().find_one({"to": email, "kind": "password_reset"})


def token_in(text):
    return re.search(r"token=([A-Za-z0-9_-]+)", text)[1]


@pytest.mark.parametrize(
    ("setting", "link"),
    [
        (None, "http://127.0.0.1:8000/reset-password?token="),
        ("halls://reset-password", "halls://reset-password?token="),
        (
            "https://app.halls.example/reset?lang=ur",
            "https://app.halls.example/reset?lang=ur&token=",
        ),
    ],
)
def test_the_mail_links_to_password_reset_url(app, client, customer, setting, link):
    user, _ = customer
    app.config["PASSWORD_RESET_URL"] = setting
    ok_data(forgot(client, user["email"]))
    message = reset_mail(user["email"])
    token = token_in(message["text"])
    assert f"\n{link}{token}\n" in message["text"]
    assert f'href="{link.replace("&", "&amp;")}{token}"' in message["html"]
    # The token the link carries is the one that resets the password.
    body = {"token": token, "new_password": "a fresh password"}
    ok_data(client.post("/auth/reset-password", json=body))
    assert db.password_resets().find_one({"user_id": user["_id"]})["used_at"] is not None


def test_password_reset_url_comes_from_the_environment():
    url = "halls://reset-password"
    assert config.from_env({"PASSWORD_RESET_URL": url})["PASSWORD_RESET_URL"] == url
    assert config.from_env({"PASSWORD_RESET_URL": ""})["PASSWORD_RESET_URL"] is None
    assert config.from_env({})["PASSWORD_RESET_URL"] is None


@pytest.mark.parametrize("url", ["halls.example/reset", "/reset-password", "https:///reset"])
def test_a_relative_password_reset_url_refuses_to_start(url):
    with pytest.raises(config.ConfigError, match="PASSWORD_RESET_URL must be an absolute URL"):
        config.from_env({"PASSWORD_RESET_URL": url})


def _halls_lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name.startswith("halls")]


def _link_lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "halls.notifications"]


def test_development_without_smtp_logs_the_link(client, customer, caplog):
    user, _ = customer
    with caplog.at_level(logging.INFO, logger="halls.notifications"):
        ok_data(forgot(client, user["email"]))
    token = token_in(reset_mail(user["email"])["text"])
    link = f"http://127.0.0.1:8000/reset-password?token={token}"
    assert _link_lines(caplog) == [
        f"password reset for {user['email']}: the mail waits in the outbox (no SMTP_HOST); "
        f"to set a new password, open {link}"
    ]


def test_production_never_logs_the_link(app, client, customer, caplog):
    user, _ = customer
    app.config["HALLS_ENV"] = "production"
    with caplog.at_level(logging.DEBUG):
        ok_data(forgot(client, user["email"]))
    token = token_in(reset_mail(user["email"])["text"])
    assert _link_lines(caplog) == []
    assert not any(token in line for line in _halls_lines(caplog))


def test_with_smtp_the_link_is_mailed_not_logged(client, customer, smtp_server, caplog):
    user, _ = customer
    recorder = smtp_server()
    with caplog.at_level(logging.DEBUG), forgot(client, user["email"]) as response:
        ok_data(response)
    (sent,) = recorder.messages  # delivered once the response is closed
    text = sent["message"].get_body(preferencelist=("plain",)).get_content()
    token = token_in(text)
    assert f"http://127.0.0.1:8000/reset-password?token={token}" in text
    assert _link_lines(caplog) == []
    assert not any(token in line for line in _halls_lines(caplog))


def test_no_such_account_logs_no_link(client, caplog):
    with caplog.at_level(logging.INFO, logger="halls.notifications"):
        ok_data(forgot(client, "nobody@example.com"))
    assert _link_lines(caplog) == []
