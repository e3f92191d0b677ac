"""The operator's branding: the logo (validated as a real raster image, kept in the database,
served by us), the addresses the Link pages link to, and the support contact as a link."""

from __future__ import annotations

import io
import re
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _
from PIL import Image, UnidentifiedImageError

MAX_LOGO_BYTES = 2 * 1024 * 1024
MAX_LOGO_SIDE = 4000
LOGO_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}

NOT_AN_IMAGE = _(
    "This file is not a PNG, JPEG, GIF or WebP image. Upload one of those; SVG and other "
    "formats are not accepted."
)


def read_logo(upload: UploadedFile) -> tuple[bytes, str]:
    """Return the logo's bytes and content type, or raise ValidationError saying what is wrong."""
    if upload.size is not None and upload.size > MAX_LOGO_BYTES:
        raise ValidationError(
            _("The logo is %(size)s KB; the limit is 2 MB (2048 KB)."),
            code="too_big",
            params={"size": (upload.size + 1023) // 1024},
        )
    data = upload.read()
    try:
        with Image.open(io.BytesIO(data)) as img:
            kind = img.format
            width, height = img.size
            if kind not in LOGO_TYPES:
                raise ValidationError(NOT_AN_IMAGE, code="not_an_image")
            if width > MAX_LOGO_SIDE or height > MAX_LOGO_SIDE:
                raise ValidationError(
                    _("The logo is %(width)s×%(height)s pixels; each side must be at most 4000."),
                    code="too_large",
                    params={"width": width, "height": height},
                )
            img.verify()
        # verify() checks structure only; decoding the pixels catches truncated files.
        with Image.open(io.BytesIO(data)) as img:
            img.load()
    except ValidationError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise ValidationError(NOT_AN_IMAGE, code="not_an_image") from None
    return data, LOGO_TYPES[kind]


LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]"}


def check_web_address(value: str) -> None:
    """An address the Link pages send SMB users to: https, or http on this machine only (a
    demo); anything else (javascript:, data:, plain http) could be abused or be read."""
    parts = urlsplit(value)
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" or (parts.scheme == "http" and host in LOCAL_HOSTS | {"::1"}):
        return
    raise ValidationError(
        _("Enter an https:// address (http:// only for localhost)."), code="not_https"
    )


EMAIL = re.compile(r"[^@\s<>\"']+@[^@\s<>\"']+\.[A-Za-z]{2,}")
# A North American number: an optional +1 or 1, then 10 digits grouped by spaces, dots, dashes
# or parentheses ("1 800 555-0199", "(514) 555-0100", "+1-800-555-0199").
PHONE = re.compile(r"(?<![\w+])(?:\+?1[\s.-]?)?(?:\(\d{3}\)|\d{3})[\s.-]?\d{3}[\s.-]?\d{4}(?!\w)")
WEB = re.compile(r"https://[^\s<>\"']+[^\s<>\"'.,;:!?)]")


def contact_href(found: str) -> str:
    """The href for a contact `found` by `CONTACT`: mailto:, tel: (digits, +1) or the address."""
    if EMAIL.fullmatch(found):
        return f"mailto:{found}"
    if PHONE.fullmatch(found):
        digits = re.sub(r"\D", "", found)
        return "tel:+" + (digits if len(digits) == 11 else "1" + digits)
    return found


CONTACT = re.compile(f"{EMAIL.pattern}|{WEB.pattern}|{PHONE.pattern}")


def contact_parts(text: str) -> list[tuple[str, str | None]]:
    """`text` cut into (piece, href) pairs: the e-mail addresses, https addresses and phone
    numbers in it with their href, the rest with None. The template escapes every piece."""
    parts: list[tuple[str, str | None]] = []
    last = 0
    for match in CONTACT.finditer(text):
        if match.start() > last:
            parts.append((text[last : match.start()], None))
        parts.append((match.group(), contact_href(match.group())))
        last = match.end()
    if last < len(text):
        parts.append((text[last:], None))
    return parts


def link_branding(org: Any, language: str) -> dict[str, Any]:
    """What every Link page shows of the operator (`org`: the OrganizationSettings), for the
    Link pages and admin's preview of them alike: its name in the page's language, the support
    contact cut into links."""
    return {
        "org": org,
        "institution": org.institution(language),
        "support": contact_parts(org.support_contact),
    }


def callout_parts(org: Any, language: str) -> tuple[str, list[tuple[str, str | None]]] | None:
    """The callout for a language with its body cut into links, or None."""
    callout = org.callout(language)
    return (callout[0], contact_parts(callout[1])) if callout else None
