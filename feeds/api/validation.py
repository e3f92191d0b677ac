"""Request validation errors (from pydantic, through django-ninja) in the API's error items."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from feeds.writes import Problem

COUNTRY_MESSAGE = (
    "country must be US or CA: only companies in the United States or Canada are supported."
)


def path_of(loc: Sequence[Any], prefix: str = "") -> str:
    text = prefix
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "body"


def message_for(error: dict[str, Any], path: str) -> str:
    kind = error.get("type", "")
    if path.split(".")[-1] == "country" and kind in ("literal_error", "enum"):
        return COUNTRY_MESSAGE
    if kind == "missing":
        return f"{path} is required."
    if kind == "string_pattern_mismatch":
        return (
            f"{path} contains a character that is not allowed here (a control character such "
            "as NUL, or '/' in an account id)."
        )
    if kind == "extra_forbidden":
        return f"{path} cannot be changed here."
    message = str(error.get("msg", "is not valid")).removeprefix("Value error, ")
    return f"{path}: {message[:1].lower()}{message[1:]}."


def problems_from_pydantic(errors: Iterable[dict[str, Any]], prefix: str = "") -> list[Problem]:
    problems = []
    for error in errors:
        path = path_of(error.get("loc", ()), prefix)
        problems.append(Problem(path, message_for(error, path), error.get("type", "invalid")))
    return problems
