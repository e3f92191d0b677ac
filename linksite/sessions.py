"""Django's database sessions (server-side, with Django's own expiry, cycling and saving), kept
in `feeds.models.BrowserSession`: Django's session table with one more column, the Link
connection the session is bound to, so that a Link page reads its session with its connection
in one statement and hands the row to `SessionStore.prime` (issue 18). Any other page reads its
session with one statement compiled once per process (`feeds.prepared`): building the ORM query
for it cost several times running it. Only the reads and that column are changed."""

from __future__ import annotations

from functools import cache

from django.contrib.sessions.backends import db
from django.utils import timezone

from feeds.prepared import Prepared


@cache
def _read() -> Prepared:
    model = SessionStore.get_model_class()
    return Prepared(
        lambda key, now: model.unexpired(key, now).values_list("session_data", "expire_date"),
        *model.read_parameters(),
    )


class SessionStore(db.SessionStore):
    @classmethod
    def get_model_class(cls):
        from feeds.models import BrowserSession

        return BrowserSession

    def create_model_instance(self, data):
        instance = super().create_model_instance(data)
        instance.connection_id = instance.connection_of(data)
        return instance

    def _get_session_from_db(self):
        rows = _read().rows(self.session_key, timezone.now())
        if not rows:  # unknown or expired: a new session, as Django's own store does
            self._session_key = None
            return None
        data, expire_date = rows[0]
        return self.model(session_key=self.session_key, session_data=data, expire_date=expire_date)

    def prime(self, session_data: str | None) -> None:
        """Take this session's `session_data` as another statement read it (by this session's
        key, unexpired), or None when it found none: what `load` would have read, without
        reading it again."""
        if session_data is None:
            self._session_key = None  # as `_get_session_from_db`: a new session follows
            self._session_cache = {}
        else:
            self._session_cache = self.decode(session_data)
