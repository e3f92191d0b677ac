"""The operator's logo: validated as a real raster image, kept in the database, served by us."""

from __future__ import annotations

import io

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
