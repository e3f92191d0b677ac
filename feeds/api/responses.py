"""The documented responses of an operation: its successes plus the errors any operation can
give (400 bad parameter, 401 bad key, 404 unknown or foreign id) and, when it takes a body, 413
and 415. Every error uses the `Error` shape."""

from __future__ import annotations

from typing import Any

from feeds.api.schemas import Error


def responses(ok: dict[int, Any], *codes: int, body: bool = False) -> dict[int, Any]:
    errors = {400, 401, 404, *codes}
    if body:
        errors |= {413, 415}
    return {**ok, **{code: Error for code in sorted(errors)}}
