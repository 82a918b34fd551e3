import io
import struct
import time
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import ExifTags, Image, ImageFile, features
from rest_framework.exceptions import ValidationError

from core.images import ImageTooLarge, image_process
from feed.models import Post
from tests.factories import image_bytes


def upload(data: bytes, name: str = "photo.jpg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="image/jpeg")


def jpeg_with_gps_and_orientation(size=(64, 48), orientation: int = 6) -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "SpyCam"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (52.0, 22.0, 11.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (4.0, 53.0, 30.0)
    return image_bytes(fmt="JPEG", size=size, exif=exif.tobytes())


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR claiming width x height, with a tiny IDAT."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


def decode(content) -> Image.Image:
    image = Image.open(io.BytesIO(content.read()))
    content.seek(0)
    return image


def test_output_has_no_exif_and_no_gps_and_orientation_is_applied():
    # given
    source = jpeg_with_gps_and_orientation()
    with Image.open(io.BytesIO(source)) as original:
        assert original.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    # when
    result = image_process(upload=upload(source))
    # then
    raw = result.image.read()
    result.image.seek(0)
    for content, data in ((result.image, raw), (result.thumbnail, result.thumbnail.read())):
        content.seek(0)
        image = decode(content)
        assert image.format == "JPEG"
        assert len(image.getexif()) == 0
        assert "exif" not in image.info
        assert b"Exif" not in data and b"SpyCam" not in data
    assert decode(result.image).size == (48, 64)  # orientation 6: rotated upright


def test_names_are_random_jpeg_names():
    first = image_process(upload=upload(image_bytes(), name="../../etc/passwd.jpg"))
    second = image_process(upload=upload(image_bytes()))
    assert first.image.name.endswith(".jpg") and "/" not in first.image.name
    assert len({first.image.name, first.thumbnail.name, second.image.name}) == 3


def test_large_images_are_scaled_down_and_thumbnail_is_square():
    result = image_process(upload=upload(image_bytes(fmt="PNG", size=(3000, 1500)), name="wide.png"))
    assert decode(result.image).size == (2048, 1024)
    assert decode(result.thumbnail).size == (320, 320)


def test_transparent_png_is_flattened_on_white():
    buffer = io.BytesIO()
    Image.new("RGBA", (20, 20), (0, 0, 0, 0)).save(buffer, format="PNG")
    result = image_process(upload=upload(buffer.getvalue(), name="clear.png"))
    r, g, b = decode(result.image).convert("RGB").getpixel((10, 10))
    assert min(r, g, b) > 245


def test_animated_gif_keeps_its_first_frame():
    buffer = io.BytesIO()
    frames = [Image.new("RGB", (30, 30), (255, 0, 0)), Image.new("RGB", (30, 30), (0, 0, 255))]
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    result = image_process(upload=upload(buffer.getvalue(), name="anim.gif"))
    r, g, b = decode(result.image).convert("RGB").getpixel((15, 15))
    assert r > 200 and b < 60


@pytest.mark.skipif(not features.check("webp"), reason="Pillow built without WebP")
def test_webp_is_accepted():
    result = image_process(upload=upload(image_bytes(fmt="WEBP"), name="a.webp"))
    assert decode(result.image).format == "JPEG"


@pytest.mark.parametrize(
    "data",
    [
        b"hello, I am a text file",
        b"",
        image_bytes(fmt="JPEG")[:200],  # truncated
        image_bytes(fmt="BMP"),
        image_bytes(fmt="TIFF"),
        b"<svg xmlns='http://www.w3.org/2000/svg'></svg>",
    ],
)
def test_non_images_and_unsupported_formats_are_refused_with_a_field_error(data):
    with pytest.raises(ValidationError) as info:
        image_process(upload=upload(data), field="avatar")
    assert "avatar" in info.value.detail


def test_oversized_file_is_refused_before_reading(settings):
    settings.IMAGE_MAX_BYTES = 1000
    with pytest.raises(ImageTooLarge) as info:
        image_process(upload=upload(image_bytes(size=(400, 400), color=(1, 2, 3)) + b"\0" * 1000))
    assert info.value.status_code == 413 and info.value.get_codes() == "too_large"


@pytest.mark.parametrize(("width", "height"), [(20000, 20000), (7000, 7000), (1, 50_000_000)])
def test_decompression_bomb_header_is_refused_without_decoding(monkeypatch, width, height):
    # given: a few hundred bytes claiming a huge canvas; decoding it would be the attack
    data = png_header_only(width, height)
    assert len(data) < 500

    def no_decoding(self, *args, **kwargs):
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    started = time.monotonic()
    # when / then
    with pytest.raises(ImageTooLarge):
        image_process(upload=upload(data, name="bomb.png"))
    assert time.monotonic() - started < 1


@pytest.mark.django_db
def test_bomb_posted_to_the_api_is_413(auth_client):
    bomb = SimpleUploadedFile("bomb.png", png_header_only(20000, 20000), content_type="image/png")
    response = auth_client.post("/api/posts", {"image": bomb}, format="multipart")
    assert response.status_code == 413 and response.json()["code"] == "too_large"
    assert not Post.objects.exists()


@pytest.mark.django_db
def test_posted_image_with_gps_is_stored_without_it(auth_client, settings):
    response = auth_client.post("/api/posts", {"image": upload(jpeg_with_gps_and_orientation())}, format="multipart")
    assert response.status_code == 201
    post = Post.objects.get()
    for name in (post.image.name, post.thumbnail.name):
        data = (settings.MEDIA_ROOT / name).read_bytes()
        assert b"Exif" not in data
        with Image.open(io.BytesIO(data)) as stored:
            assert len(stored.getexif()) == 0
