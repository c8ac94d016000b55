"""Fixtures the wallet tests share."""

import pytest

from tests.wallet.helpers import fund


@pytest.fixture
def admin(make_user):
    return make_user(role="admin", full_name="Ada Admin")


@pytest.fixture
def funded(customer):
    """The customer, with 1000 PKR credited."""
    user, _ = customer
    fund(user, 1000)
    return user
