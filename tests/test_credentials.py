"""One-time credentials (`product.md` §5): format, hashing, expiry, single use, lockout, audit."""

from __future__ import annotations

import datetime as dt
import re
import threading

import pytest
import time_machine
from django.db import connection as db_connection
from django.utils import timezone

from accounts.audit import Actor
from accounts.models import AuditEvent
from feeds import credentials
from feeds.credentials import CredentialError, redeem
from feeds.models import CredentialSet
from tests.makers import make_account, make_company, make_connection

QBO = Actor.qbo()


@pytest.fixture
def issued(alice):
    return credentials.issue(
        alice.connection, [alice.checking], origin="link", actor=Actor.smb(alice.connection.pk)
    )


def test_usernames_and_passwords_have_the_documented_shape():
    for _ in range(200):
        assert re.fullmatch(
            r"[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}", credentials.new_username()
        )
        password = credentials.new_password()
        assert re.fullmatch(r"[A-Za-z0-9]{16}", password)
        assert re.search("[a-z]", password) and re.search("[A-Z]", password)
        assert re.search("[0-9]", password)


def test_a_set_is_redeemed_once_with_the_right_password(issued):
    credential_set, password = issued
    spent = redeem(credential_set.username, password, actor=QBO)
    assert spent.pk == credential_set.pk and spent.used is not None
    with pytest.raises(CredentialError) as again:
        redeem(credential_set.username, password, actor=QBO)
    assert again.value.reason == "used"


def test_the_username_is_matched_whatever_its_case_or_spaces(issued):
    credential_set, password = issued
    assert redeem(f"  {credential_set.username.lower()} ", password, actor=QBO)


def test_a_set_expires_after_60_minutes(issued):
    credential_set, password = issued
    with time_machine.travel(credential_set.created + dt.timedelta(minutes=59, seconds=59)):
        # Still valid one second before; checked without spending it.
        assert CredentialSet.objects.get(pk=credential_set.pk).state == "active"
    expired = time_machine.travel(credential_set.created + dt.timedelta(minutes=60))
    with expired, pytest.raises(CredentialError) as refused:
        redeem(credential_set.username, password, actor=QBO)
    assert refused.value.reason == "expired"


def test_five_wrong_passwords_lock_the_set(issued):
    credential_set, password = issued
    for attempt in range(1, 6):
        with pytest.raises(CredentialError) as wrong:
            redeem(credential_set.username, "WrongPassword123", actor=QBO)
        assert wrong.value.reason == "wrong_password"
        assert CredentialSet.objects.get(pk=credential_set.pk).failed_attempts == attempt
    assert CredentialSet.objects.get(pk=credential_set.pk).locked is not None
    with pytest.raises(CredentialError) as locked:
        redeem(credential_set.username, password, actor=QBO)
    assert locked.value.reason == "locked"


def test_four_wrong_passwords_do_not_lock_it(issued):
    credential_set, password = issued
    for _ in range(4):
        with pytest.raises(CredentialError):
            redeem(credential_set.username, "nope", actor=QBO)
    assert redeem(credential_set.username, password, actor=QBO)


def test_guesses_in_flight_hold_their_attempts_so_no_more_than_five_are_checked(issued):
    credential_set, password = issued
    # Five guesses are being checked right now (each reserved its attempt before hashing): a
    # sixth, even the right password, is not checked at all.
    CredentialSet.objects.filter(pk=credential_set.pk).update(failed_attempts=5)
    with pytest.raises(CredentialError) as refused:
        redeem(credential_set.username, password, actor=QBO)
    assert refused.value.reason == "locked"
    assert CredentialSet.objects.get(pk=credential_set.pk).used is None


def test_the_right_password_gives_back_the_attempt_it_reserved(issued):
    credential_set, password = issued
    with pytest.raises(CredentialError):
        redeem(credential_set.username, "nope", actor=QBO)
    redeem(credential_set.username, password, actor=QBO)
    assert CredentialSet.objects.get(pk=credential_set.pk).failed_attempts == 1


def test_revoked_and_unknown_credentials_are_refused(issued, alice):
    credential_set, password = issued
    credentials.revoke_all(alice.connection, actor=QBO)
    with pytest.raises(CredentialError) as revoked:
        redeem(credential_set.username, password, actor=QBO)
    assert revoked.value.reason == "revoked"
    with pytest.raises(CredentialError) as unknown:
        redeem("AAAA-BBBB-CCCC", password, actor=QBO)
    assert unknown.value.reason == "unknown"


def test_an_unknown_username_costs_a_password_hash_too(issued, monkeypatch):
    calls = []
    real = credentials.check_password
    monkeypatch.setattr(credentials, "check_password", lambda *a: calls.append(a) or real(*a))
    with pytest.raises(CredentialError):
        redeem("ZZZZ-ZZZZ-ZZZZ", "whatever", actor=QBO)
    assert len(calls) == 1 and calls[0][1].startswith("md5$")  # the test hasher


def test_every_attempt_is_audited_and_the_password_never_is(issued):
    credential_set, password = issued
    with pytest.raises(CredentialError):
        redeem(credential_set.username, "bad", actor=QBO)
    redeem(credential_set.username, password, actor=QBO)
    actions = list(
        AuditEvent.objects.filter(action__startswith="credentials.").values_list(
            "action", flat=True
        )
    )
    assert sorted(actions) == [
        "credentials.issued",
        "credentials.redeemed",
        "credentials.verify_failed",
    ]
    for event in AuditEvent.objects.all():
        assert password not in str(event.data) and "bad" not in str(event.data.values())


def test_only_a_hash_is_stored(issued):
    credential_set, password = issued
    assert password not in credential_set.password_hash
    assert credential_set.expires - credential_set.created == dt.timedelta(minutes=60)


@pytest.mark.django_db(transaction=True)
def test_of_two_concurrent_redemptions_exactly_one_wins():
    if db_connection.vendor != "postgresql":
        pytest.skip("concurrent sessions need a server database")
    connection = make_connection(make_company("Race Co", "US", client="race"))
    account = make_account(connection, "race-1")
    credential_set, password = credentials.issue(
        connection, [account], origin="api", actor=Actor.system()
    )
    barrier = threading.Barrier(4)
    outcomes = []

    def attempt():
        barrier.wait()
        try:
            redeem(credential_set.username, password, actor=QBO)
            outcomes.append("won")
        except CredentialError as exc:
            outcomes.append(exc.reason)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["used", "used", "used", "won"]
    assert CredentialSet.objects.get(pk=credential_set.pk).used <= timezone.now()


def test_revoking_a_used_set_disables_its_feed_and_leaves_bobs_sets_alone(alice, bob):
    from tests.makers import make_credentials, make_feed

    used = make_credentials(alice.connection, "DDDD-EEEE-FFFF", used=timezone.now())
    feed = make_feed(alice.checking, credential_set=used)
    bobs = make_credentials(bob.connection, "GGGG-HHHH-JJJJ")

    assert credentials.revoke_all(alice.connection, actor=QBO) == 1

    used.refresh_from_db()
    feed.refresh_from_db()
    bobs.refresh_from_db()
    assert used.revoked is not None
    assert feed.disabled_on_utc is not None
    assert bobs.revoked is None
    assert AuditEvent.objects.filter(action="credentials.revoked").count() == 1
    assert AuditEvent.objects.filter(action="feed.disabled").count() == 1


def test_a_set_whose_link_session_could_not_be_opened_is_not_spent(issued, monkeypatch):
    from feeds import feed_rules
    from feeds.models import LinkSession

    credential_set, password = issued

    def crash(*args, **kwargs):
        raise RuntimeError("the process died between the spend and the session")

    monkeypatch.setattr(feed_rules, "open_link_session", crash)
    with pytest.raises(RuntimeError):
        credentials.redeem_for_link(credential_set.username, password, actor=QBO)
    credential_set.refresh_from_db()
    assert (credential_set.used, credential_set.failed_attempts) == (None, 0)
    assert not AuditEvent.objects.filter(action="credentials.redeemed").exists()
    assert not LinkSession.objects.exists()

    monkeypatch.undo()  # QBO asks again: the set is still good, and spent with its session
    session, accounts = credentials.redeem_for_link(credential_set.username, password, actor=QBO)
    credential_set.refresh_from_db()
    assert credential_set.used is not None
    assert session.credential_set == credential_set and [a.account_id for a in accounts] == [
        "alice-chk"
    ]
    with pytest.raises(CredentialError):
        credentials.redeem_for_link(credential_set.username, password, actor=QBO)
    assert LinkSession.objects.count() == 1


def test_a_password_has_no_look_alike_characters():
    from feeds.credentials import LOOK_ALIKES, PASSWORD_ALPHABET, new_password

    assert not set(LOOK_ALIKES) & set(PASSWORD_ALPHABET)
    assert len(PASSWORD_ALPHABET) == 56
    seen = set("".join(new_password() for _ in range(300)))
    assert not seen & set(LOOK_ALIKES)
    assert seen == set(PASSWORD_ALPHABET)  # every other letter and digit does appear
