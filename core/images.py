"""Uploaded images: checked, bounded, re-encoded without metadata, with a thumbnail.

An upload is trusted for nothing. Its byte size is checked first, then the pixel count
from the header alone (before any decoding, so a small file claiming 20000x20000 costs
nothing), then Pillow decodes it. What is stored is a fresh JPEG (EXIF orientation
applied, no EXIF/GPS or other metadata) under a random name, plus a square thumbnail.
"""

import io
import uuid
import warnings
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from PIL import Image, ImageOps, UnidentifiedImageError
from rest_framework import exceptions, status

from core.http import declared_length

ALLOWED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "GIF"})
MAX_EDGE = 2048
THUMBNAIL_EDGE = 320
JPEG_QUALITY = 85

# Pillow's own guard, for any decode that reaches it (the header check below comes first).
Image.MAX_IMAGE_PIXELS = settings.IMAGE_MAX_PIXELS


class ImageTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The image is too large."
    default_code = "too_large"


class NamedContent(ContentFile):
    """A re-encoded image, always under its random file name."""

    name: str


@dataclass(frozen=True)
class ProcessedImage:
    image: NamedContent
    thumbnail: NamedContent
    width: int
    height: int


def _not_an_image(
    field: str, message: str = "Upload a valid image (JPEG, PNG, WebP or GIF)."
) -> exceptions.ValidationError:
    return exceptions.ValidationError({field: [message]})


def _flatten_alpha(image: Image.Image) -> Image.Image:
    """RGB on a white background: transparent pixels must not turn black."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _encode(image: Image.Image, icc_profile: bytes | None) -> NamedContent:
    # Nothing of the upload's metadata rides along: Pillow copies `info` through convert
    # and resize, and its JPEG writer would write `info["comment"]` (a COM segment, which
    # can hold anything, an HTML page included) back out.
    image.info = {}
    buffer = io.BytesIO()
    options: dict[str, object] = {"quality": JPEG_QUALITY, "optimize": True, "progressive": True}
    if icc_profile:
        options["icc_profile"] = icc_profile
    image.save(buffer, format="JPEG", **options)
    return NamedContent(buffer.getvalue(), name=f"{uuid.uuid4().hex}.jpg")


def check_upload_size(size: int | None) -> None:
    if size is not None and size > settings.IMAGE_MAX_BYTES:
        limit_mb = settings.IMAGE_MAX_BYTES // (1024 * 1024)
        raise ImageTooLarge(f"The image is larger than {limit_mb} MB.")


# The multipart envelope around a maximal image; a longer request body is refused unread.
ENVELOPE_BYTES = 1024 * 1024


def check_request_size(request, *, images: int = 1) -> None:
    """Refuses (413) an upload request whose declared body cannot hold `images` acceptable
    images, before the body is parsed."""
    if (declared_length(request.META) or 0) > images * settings.IMAGE_MAX_BYTES + ENVELOPE_BYTES:
        raise ImageTooLarge(f"The upload is larger than {images * settings.IMAGE_MAX_BYTES // (1024 * 1024)} MB.")


def image_process(*, upload, field: str = "image", thumbnail_edge: int = THUMBNAIL_EDGE) -> ProcessedImage:
    """Validates an uploaded file and returns its re-encoded JPEG and square thumbnail.

    Raises ImageTooLarge (413, `too_large`) over settings.IMAGE_MAX_BYTES or
    settings.IMAGE_MAX_PIXELS, and ValidationError with `fields[field]` when the file is
    not a JPEG, PNG, WebP or GIF image. Nothing is stored here.
    """
    if upload is None or not hasattr(upload, "read"):
        raise _not_an_image(field, "No image was uploaded.")
    check_upload_size(getattr(upload, "size", None))
    try:
        upload.seek(0)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # open() reads the header only: format and size are known, no pixel decoded yet.
            with Image.open(upload) as probe:
                if probe.format not in ALLOWED_FORMATS:
                    raise _not_an_image(field)
                width, height = probe.size
                if width <= 0 or height <= 0:
                    raise _not_an_image(field)
                if width * height > settings.IMAGE_MAX_PIXELS:
                    raise ImageTooLarge(f"The image has more than {settings.IMAGE_MAX_PIXELS // 1_000_000} megapixels.")
                probe.verify()
            upload.seek(0)
            with Image.open(upload) as source:
                source.seek(0)  # first frame of an animation
                icc_profile = source.info.get("icc_profile")
                if source.format in ("JPEG", "MPO"):
                    source.draft("RGB", (MAX_EDGE, MAX_EDGE))
                oriented = ImageOps.exif_transpose(source)
                rgb = _flatten_alpha(oriented)
    except (ImageTooLarge, exceptions.ValidationError):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge(f"The image has more than {settings.IMAGE_MAX_PIXELS // 1_000_000} megapixels.") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, TypeError, EOFError, IndexError, KeyError):
        raise _not_an_image(field)

    rgb.thumbnail((MAX_EDGE, MAX_EDGE), Image.Resampling.LANCZOS)
    edge = min(thumbnail_edge, rgb.width, rgb.height)
    thumb = ImageOps.fit(rgb, (edge, edge), Image.Resampling.LANCZOS)
    return ProcessedImage(
        image=_encode(rgb, icc_profile),
        thumbnail=_encode(thumb, icc_profile),
        width=rgb.width,
        height=rgb.height,
    )
