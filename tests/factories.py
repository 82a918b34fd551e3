import io
import uuid

import factory
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from accounts.credentials import token_create
from accounts.models import User

PASSWORD = "correct-horse-battery-9"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    full_name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


def image_bytes(
    fmt: str = "JPEG", size: tuple[int, int] = (64, 48), color=(200, 30, 30), exif: bytes | None = None
) -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", size, color)
    kwargs = {"exif": exif} if exif is not None else {}
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def image_upload(name: str = "photo.jpg", **kwargs) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, image_bytes(**kwargs), content_type="image/jpeg")


def client_id() -> str:
    return str(uuid.uuid4())


def issue_token(user) -> str:
    """A new API token key for the user: the one way tests get a token."""
    return token_create(user=user)
