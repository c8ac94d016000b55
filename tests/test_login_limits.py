"""POST /auth/login's limits: failed sign-ins per account (strict) and per address (generous)."""

import datetime as dt
import hashlib

import pytest

from halls import config, db
from tests.helpers import PASSWORD, assert_error, ok_data, race

WRONG = "not the password"
LOCKED = (
    "Too many failed sign-ins for this account; try again in 15 minutes, or reset the password."
)


@pytest.fixture
def app_config(app_config):
    """The limits on, at their defaults: 5 failures per account per 15 minutes, 100 per address."""
    return {**app_config, "RATELIMIT_ENABLED": True}


def login(client, email, password=WRONG, address="127.0.0.1"):
    return client.post(
        "/auth/login",
        json={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def fail(client, email, times, addresses=None):
    """`times` wrong passwords for the email, each from the next address given (or one)."""
    for number in range(times):
        address = addresses[number] if addresses else "127.0.0.1"
        assert_error(login(client, email, address=address), 401, "invalid_credentials")


def stored_attempts(email):
    key = hashlib.sha256(email.casefold().encode()).hexdigest()
    return db.login_attempts().find_one({"_id": key})


def assert_locked(response, seconds):
    """A 429 too_many_attempts in the envelope that says when to come back."""
    error = assert_error(response, 429, "too_many_attempts")
    assert error["details"] == {"retry_after": seconds}
    # Flask-Limiter re-states the header from the wall clock: it may read a second less.
    assert seconds - 1 <= int(response.headers["Retry-After"]) <= seconds
    return error


# --- per account -------------------------------------------------------------------------


def test_five_failures_from_five_addresses_lock_the_account(client, customer, clock):
    user, _ = customer
    addresses = [f"127.0.0.{number}" for number in range(1, 6)]
    fail(client, user["email"], 5, addresses)
    # A sixth address, and the right password: the account waits all the same.
    response = login(client, user["email"], PASSWORD, address="127.0.0.6")
    error = assert_locked(response, 15 * 60)
    assert error["message"] == LOCKED
    assert response.get_json() == {"ok": False, "error": error}
    stored = stored_attempts(user["email"])
    assert len(stored["attempts"]) == 5
    assert stored["expires_at"] == clock() + dt.timedelta(minutes=15)
    assert user["email"] not in str(stored)  # the collection keeps no addresses


def test_the_lock_ends_when_the_oldest_failure_leaves_the_window(client, customer, clock):
    user, _ = customer
    fail(client, user["email"], 1)
    clock.advance(minutes=5)
    fail(client, user["email"], 4)
    clock.advance(minutes=9)
    assert_locked(login(client, user["email"], PASSWORD), 60)
    clock.advance(minutes=1)
    # The first failure is 15 minutes old: one more attempt may go through.
    ok_data(login(client, user["email"], PASSWORD))
    fail(client, user["email"], 1)
    assert_locked(login(client, user["email"], PASSWORD), 5 * 60)


def test_refused_attempts_do_not_stretch_the_lock(client, customer, clock):
    user, _ = customer
    fail(client, user["email"], 5)
    for _ in range(3):
        clock.advance(minutes=4)
        assert_error(login(client, user["email"]), 429, "too_many_attempts")
    clock.advance(minutes=3)
    ok_data(login(client, user["email"], PASSWORD))


def test_the_email_is_counted_case_folded(client, customer):
    user, _ = customer
    local, domain = user["email"].split("@")
    variants = [user["email"].upper(), f" {local}@{domain.upper()} ", local.title() + "@" + domain]
    for email in variants + [user["email"], user["email"].upper()]:
        assert_error(login(client, email), 401, "invalid_credentials")
    assert_locked(login(client, user["email"], PASSWORD), 15 * 60)


def test_an_email_without_an_account_locks_alike(client):
    fail(client, "nobody@example.com", 5)
    error = assert_locked(login(client, "nobody@example.com"), 15 * 60)
    assert error["message"] == LOCKED


def test_another_account_from_the_same_address_signs_in(client, customer, make_user):
    user, _ = customer
    other, _ = make_user()
    fail(client, user["email"], 5)
    assert_error(login(client, user["email"], PASSWORD), 429, "too_many_attempts")
    data = ok_data(login(client, other["email"], PASSWORD))
    assert data["user"]["email"] == other["email"]
    assert stored_attempts(other["email"])["attempts"] == []


def test_successful_sign_ins_never_count(client, customer):
    user, _ = customer
    for _ in range(8):
        ok_data(login(client, user["email"], PASSWORD))
    assert stored_attempts(user["email"])["attempts"] == []


def test_a_success_does_not_give_an_attackers_failures_back(client, customer):
    user, _ = customer
    fail(client, user["email"], 4)
    ok_data(login(client, user["email"], PASSWORD))
    assert len(stored_attempts(user["email"])["attempts"]) == 4
    fail(client, user["email"], 1)
    assert_locked(login(client, user["email"], PASSWORD), 15 * 60)


def test_a_password_reset_clears_the_lock(client, customer):
    user, _ = customer
    fail(client, user["email"], 5)
    ok_data(client.post("/auth/forgot-password", json={"email": user["email"]}))
    text = db.outbox().find_one({"to": user["email"], "kind": "password_reset"})["text"]
    token = text.split("token=")[1].split()[0]
    body = {"token": token, "new_password": "a fresh password"}
    ok_data(client.post("/auth/reset-password", json=body))
    assert stored_attempts(user["email"]) is None
    ok_data(login(client, user["email"], "a fresh password"))


def test_a_failed_reset_leaves_the_lock(client, customer):
    user, _ = customer
    fail(client, user["email"], 5)
    body = {"token": "made-up", "new_password": "a fresh password"}
    assert_error(client.post("/auth/reset-password", json=body), 400, "invalid_reset_token")
    assert len(stored_attempts(user["email"])["attempts"]) == 5
    assert_error(login(client, user["email"], PASSWORD), 429, "too_many_attempts")


def test_simultaneous_guesses_cannot_overshoot(app, customer):
    user, _ = customer
    calls = [
        lambda client, n=n: login(client, user["email"], address=f"127.0.1.{n}") for n in range(12)
    ]
    statuses = sorted(status for status, _ in race(app, calls))
    assert statuses == [401] * 5 + [429] * 7
    assert len(stored_attempts(user["email"])["attempts"]) == 5


def test_the_attempts_are_forgotten_by_a_ttl_index(app):
    index = db.login_attempts().index_information()["expires_ttl"]
    assert list(index["key"]) == [("expires_at", 1)]
    assert index["expireAfterSeconds"] == 0


def test_with_rate_limits_off_nothing_is_counted(app_config, request):
    app_config["RATELIMIT_ENABLED"] = False
    client = request.getfixturevalue("client")
    user, _ = request.getfixturevalue("customer")
    fail(client, user["email"], 7)
    ok_data(login(client, user["email"], PASSWORD))
    assert db.login_attempts().count_documents({}) == 0


def test_the_account_limit_is_configurable(app_config, request):
    app_config["RATELIMIT_LOGIN_ACCOUNT"] = "2 per hour"
    client = request.getfixturevalue("client")
    user, _ = request.getfixturevalue("customer")
    fail(client, user["email"], 2)
    error = assert_locked(login(client, user["email"], PASSWORD), 3600)
    assert "try again in 60 minutes" in error["message"]


# --- per address -------------------------------------------------------------------------


def test_the_address_limit_is_separate_and_counts_failures_only(app_config, request):
    app_config["RATELIMIT_LOGIN_IP"] = "3 per minute"
    client = request.getfixturevalue("client")
    make_user = request.getfixturevalue("make_user")
    user, _ = make_user()
    # Successes from a busy address (a carrier's NAT) never count.
    for _ in range(5):
        ok_data(login(client, user["email"], PASSWORD, address="127.0.0.7"))
    # Three failures on three accounts: none of them near its own limit.
    for _ in range(3):
        other, _ = make_user()
        assert_error(login(client, other["email"], address="127.0.0.7"), 401, "invalid_credentials")
    response = login(client, user["email"], PASSWORD, address="127.0.0.7")
    error = assert_error(response, 429, "rate_limited")
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert error["details"] == {}
    assert response.headers["X-RateLimit-Limit"] == "3"
    # The account itself is fine: from another address it signs in.
    ok_data(login(client, user["email"], PASSWORD, address="127.0.0.8"))
    assert stored_attempts(user["email"])["attempts"] == []


def test_the_default_address_limit_is_generous(client, make_user):
    # 20 people behind one address each mistype once: nobody is turned away.
    for _ in range(20):
        person, _ = make_user()
        assert_error(login(client, person["email"]), 401, "invalid_credentials")
        ok_data(login(client, person["email"], PASSWORD))


# --- settings ----------------------------------------------------------------------------


def test_defaults():
    settings = config.from_env({})
    assert settings["RATELIMIT_LOGIN_ACCOUNT"] == "5 per 15 minutes"
    assert settings["RATELIMIT_LOGIN_IP"] == "100 per minute"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RATELIMIT_LOGIN_ACCOUNT", "five a minute"),
        ("RATELIMIT_LOGIN_ACCOUNT", "5 per minute; 20 per hour"),
        ("RATELIMIT_LOGIN_IP", "lots"),
        ("RATELIMIT_DEFAULT", "300 every minute"),
        ("RATELIMIT_AUTH", "ten per minute"),
    ],
)
def test_a_limit_that_does_not_parse_refuses_to_start(name, value):
    with pytest.raises(config.ConfigError, match=name):
        config.from_env({name: value})


def test_several_limits_are_fine_per_address():
    value = "100 per minute; 1000 per day"
    assert config.from_env({"RATELIMIT_LOGIN_IP": value})["RATELIMIT_LOGIN_IP"] == value
