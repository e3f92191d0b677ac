"""Django's database sessions (server-side, in the `django_session` table, with Django's own
expiry, cycling and saving), read with one statement compiled once per process
(`feeds.prepared`): every Link page and status poll loads its session, and building the ORM
query for it cost several times running it (issue 18). Only the read is changed."""

from __future__ import annotations

import datetime as dt
from functools import cache

from django.contrib.sessions.backends import db
from django.utils import timezone

from feeds.prepared import Prepared

_ANY_KEY = "prepared-session-key-sentinel"
_ANY_TIME = dt.datetime(2001, 2, 3, 4, 5, 6, 7008, tzinfo=dt.UTC)


@cache
def _read() -> Prepared:
    model = db.SessionStore.get_model_class()
    return Prepared(
        lambda key, now: model.objects.filter(session_key=key, expire_date__gt=now).values_list(
            "session_data", "expire_date"
        ),
        (model._meta.get_field("session_key"), _ANY_KEY),
        (model._meta.get_field("expire_date"), _ANY_TIME),
    )


class SessionStore(db.SessionStore):
    def _get_session_from_db(self):
        rows = _read().rows(self.session_key, timezone.now())
        if not rows:  # unknown or expired: a new session, as Django's own store does
            self._session_key = None
            return None
        data, expire_date = rows[0]
        return self.model(session_key=self.session_key, session_data=data, expire_date=expire_date)
