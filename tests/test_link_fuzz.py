"""Property tests of the Link pages' forms (issue 16): whatever a browser (or a script posing as
one) sends to any Link screen, in any field, the answer is a page or a redirect, never a 5xx,
and a refused form writes nothing. Hypothesis draws the fields; the session is real."""

from __future__ import annotations

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds.models import CredentialSet
from tests.test_link import open_link

# Text a form can carry (a browser cannot send a lone surrogate), long digit runs, and the
# values the pages offer, so that some draws get past the first check.
TEXT = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=60),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.sampled_from(["9" * 5000, "1e999999999", "-1", "0", " 1", "１", "US", "CA", "fr", "en"]),
)
VALUES = st.lists(TEXT, max_size=4)
FIELDS = st.dictionaries(
    st.sampled_from(["accounts", "country", "language", "next", "csrfmiddlewaretoken", "x"]),
    VALUES,
    max_size=4,
)
SCREENS = ["/link/accounts", "/link/location", "/link/language", "/link/revoke", "/link/setup"]
FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def link_client(alice, enabled):
    client = Client()
    open_link(client, alice.connection)
    return client


@FUZZ
@given(screen=st.sampled_from(SCREENS), fields=FIELDS)
def test_any_post_to_a_link_screen_gets_a_page_or_a_redirect(link_client, screen, fields):
    before = CredentialSet.objects.count()
    response = link_client.post(screen, fields)
    assert response.status_code < 500, (screen, fields, response.status_code)
    assert response.status_code in (200, 302, 400, 401, 403, 404, 405, 410)
    assert CredentialSet.objects.count() == before  # only Get credentials makes them


@FUZZ
@given(query=st.dictionaries(st.sampled_from(["token", "next", "x"]), TEXT, max_size=3))
def test_any_link_address_gets_a_page_or_a_redirect(alice, enabled, query):
    client = Client()
    for path in ("/link/start", "/link/company", "/link/", "/link/status", "/link/credentials"):
        response = client.get(path, query)
        assert response.status_code < 500, (path, query, response.status_code)
