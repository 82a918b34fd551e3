"""Posts with several images, caption edits and saves (DESIGN 6.2) over REST, in process."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from PIL import Image

from accounts.models import Follow
from core.images import ImageTooLarge, check_request_size
from feed import fanout, services
from feed.models import Post, PostImage, Save
from notifications.models import Notification
from realtime.publish import frame_message
from tests.factories import UserFactory, image_bytes, image_upload
from tests.services.test_fanout import collect, online

# An EXIF block with a GPS IFD pointer (tag 0x8825), as a phone writes it.
GPS_EXIF = Image.Exif()
GPS_EXIF[0x010F] = "PhoneMaker"
GPS_EXIF[0x8825] = {1: "N", 2: (59.0, 20.0, 0.0)}


def upload(i: int, size=(64, 48)) -> SimpleUploadedFile:
    return SimpleUploadedFile(
        f"p{i}.jpg", image_bytes(size=size, color=(20 * i, 40, 90), exif=GPS_EXIF.tobytes()), content_type="image/jpeg"
    )


def make_post(author, caption: str = "") -> Post:
    return Post.objects.create(author=author, caption=caption, image="posts/x.jpg", thumbnail="thumbs/x.jpg")


@pytest.mark.django_db
def test_a_post_keeps_up_to_ten_images_in_order_each_reencoded_and_stripped(user, client_for, settings):
    sizes = [(64, 48), (30, 90), (50, 50)]
    files = [upload(i, size) for i, size in enumerate(sizes)]
    response = client_for(user).post("/api/posts", {"image": files, "caption": "three"}, format="multipart")
    assert response.status_code == 201, response.content
    body = response.json()
    assert [(image["width"], image["height"]) for image in body["images"]] == sizes
    assert body["image_url"] == body["images"][0]["url"]
    assert body["thumbnail_url"] == body["images"][0]["thumbnail_url"]
    assert set(body["images"][0]) == {"url", "thumbnail_url", "width", "height"}
    assert len({image["url"] for image in body["images"]}) == 3
    for image in body["images"]:
        for url in (image["url"], image["thumbnail_url"]):
            stored = settings.MEDIA_ROOT / url.removeprefix(settings.MEDIA_URL)
            with Image.open(stored) as opened:
                assert opened.format == "JPEG"
                assert not opened.getexif(), "metadata survived the re-encode"
    assert body["edited_at"] is None and body["saved_by_me"] is False
    fetched = client_for(user).get(f"/api/posts/{body['id']}").json()
    assert fetched["images"] == body["images"]


@pytest.mark.django_db
def test_more_than_ten_images_or_one_bad_image_stores_nothing(user, client_for, settings):
    client = client_for(user)
    eleven = [upload(i) for i in range(11)]
    response = client.post("/api/posts", {"image": eleven}, format="multipart")
    assert response.status_code == 400 and "image" in response.json()["fields"]
    bad = SimpleUploadedFile("x.jpg", b"not an image at all", content_type="image/jpeg")
    response = client.post("/api/posts", {"image": [upload(1), bad]}, format="multipart")
    assert response.status_code == 400 and "image" in response.json()["fields"]
    assert not Post.objects.exists() and not PostImage.objects.exists()
    media = settings.MEDIA_ROOT
    assert not media.exists() or not [p for p in media.rglob("*") if p.is_file()]


def test_a_post_request_may_carry_ten_maximal_images_but_no_more(settings):
    settings.IMAGE_MAX_BYTES = 2000
    envelope = 1024 * 1024

    def declared(n: int):
        return RequestFactory().post("/api/posts", CONTENT_LENGTH=str(n))

    check_request_size(declared(10 * 2000 + envelope), images=10)
    with pytest.raises(ImageTooLarge):
        check_request_size(declared(10 * 2000 + envelope + 1), images=10)
    with pytest.raises(ImageTooLarge):
        check_request_size(declared(2 * 2000 + envelope))
    assert settings.REQUEST_MAX_BYTES_BY_PATH["/api/posts"] >= 10 * settings.IMAGE_MAX_BYTES


@pytest.mark.django_db
def test_feed_costs_the_same_queries_with_carousels(user, client_for):
    Follow.objects.create(follower=user, followee=(author := UserFactory()))

    def count_for(n: int) -> int:
        for _ in range(n):
            post = make_post(author)
            PostImage.objects.create(
                post=post, position=1, image="posts/y.jpg", thumbnail="thumbs/y.jpg", width=1, height=1
            )
        client = client_for(user)
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/api/feed").status_code == 200
        return len(queries)

    assert count_for(2) == count_for(8)


# --- caption edits -------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_author_edits_a_caption_and_it_is_marked_edited(user, client_for):
    post = make_post(user, "before")
    response = client_for(user).patch(f"/api/posts/{post.pk}", {"caption": "after"}, format="json")
    assert response.status_code == 200
    assert response.json()["caption"] == "after" and response.json()["edited_at"] is not None
    assert Post.objects.get(pk=post.pk).caption == "after"


@pytest.mark.django_db
def test_only_the_author_edits_and_a_caption_is_bounded(user, other_user, client_for):
    post = make_post(user, "mine")
    assert client_for(other_user).patch(f"/api/posts/{post.pk}", {"caption": "x"}, format="json").status_code == 403
    assert client_for(user).patch(f"/api/posts/{post.pk}", {"caption": "x" * 2201}, format="json").status_code == 400
    assert client_for(user).patch("/api/posts/999999", {"caption": "x"}, format="json").status_code == 404
    assert client_for(user).patch(f"/api/posts/{post.pk}", {}, format="json").status_code == 400
    assert Post.objects.get(pk=post.pk).edited_at is None


@pytest.mark.django_db
def test_an_edit_notifies_only_the_newly_mentioned(user, client_for):
    old, new = UserFactory(), UserFactory()
    post = services.post_create(author=user, image=image_upload(), caption=f"hi @{old.username}")
    client_for(user).patch(
        f"/api/posts/{post.pk}", {"caption": f"hi @{old.username} and @{new.username}"}, format="json"
    )
    assert Notification.objects.filter(recipient=old, verb="mention").count() == 1
    assert Notification.objects.filter(recipient=new, verb="mention", post=post).count() == 1


def ours(collected, post_id: int):
    """Only this test's post frames (the channel layer's Redis may carry others' traffic)."""
    result, received = collected

    def mine(message: dict) -> bool:
        frame = message.get("frame") or {}
        return frame.get("type", "").startswith("post.") and (frame.get("data") or {}).get("id") == post_id

    return result, {user_id: [m for m in messages if mine(m)] for user_id, messages in received.items()}


@pytest.mark.django_db(transaction=True)
def test_edit_and_delete_reach_online_followers_live():
    author, follower, stranger = UserFactory(), UserFactory(), UserFactory()
    Follow.objects.create(follower=follower, followee=author)
    for person in (author, follower, stranger):
        online(person)
    post = make_post(author, "first")

    def edit():
        services.post_update(user=author, post_id=post.pk, caption="second")
        assert fanout.wait_idle()

    _, received = ours(collect([follower, stranger], edit), post.pk)
    [pushed] = received[follower.pk]
    assert pushed["frame"]["type"] == "post.update"
    assert pushed["frame"]["data"]["caption"] == "second" and pushed["frame"]["data"]["edited_at"]
    assert received[stranger.pk] == []

    def delete():
        services.post_delete(user=author, post_id=post.pk)
        assert fanout.wait_idle()

    _, received = ours(collect([follower, stranger], delete), post.pk)
    assert received[follower.pk] == [frame_message({"type": "post.delete", "data": {"id": post.pk}})]
    assert received[stranger.pk] == []


# --- saves -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_save_is_idempotent_private_and_listed_newest_saved_first(user, other_user, client_for):
    first, second = make_post(other_user), make_post(other_user)
    client = client_for(user)
    created = client.post(f"/api/posts/{second.pk}/save")
    assert created.status_code == 201 and created.json()["saved_by_me"] is True
    assert client.post(f"/api/posts/{second.pk}/save").status_code == 200
    client.post(f"/api/posts/{first.pk}/save")
    assert Save.objects.filter(user=user).count() == 2
    saved = client.get("/api/me/saved").json()
    assert [p["id"] for p in saved["results"]] == [first.pk, second.pk]
    assert all(p["saved_by_me"] for p in saved["results"])
    # private to the saver: the author sees no save, nobody is notified
    assert client_for(other_user).get(f"/api/posts/{first.pk}").json()["saved_by_me"] is False
    assert client_for(other_user).get("/api/me/saved").json()["results"] == []
    assert not Notification.objects.exists()
    removed = client.delete(f"/api/posts/{first.pk}/save")
    assert removed.status_code == 200 and removed.json()["saved_by_me"] is False
    assert client.delete(f"/api/posts/{first.pk}/save").status_code == 200
    assert [p["id"] for p in client.get("/api/me/saved").json()["results"]] == [second.pk]


@pytest.mark.django_db
def test_a_post_that_went_private_leaves_saved_and_cannot_be_saved(user, client_for):
    author = UserFactory()
    post = make_post(author)
    client_for(user).post(f"/api/posts/{post.pk}/save")
    author.is_private = True
    author.save(update_fields=["is_private"])
    assert client_for(user).get("/api/me/saved").json()["results"] == []
    assert client_for(user).post(f"/api/posts/{post.pk}/save").json()["code"] == "private"
    assert client_for(user).post("/api/posts/999999/save").status_code == 404


@pytest.mark.django_db
def test_saved_list_costs_a_constant_number_of_queries(user, client_for):
    author = UserFactory()

    def count_for(n: int) -> int:
        for _ in range(n):
            Save.objects.create(user=user, post=make_post(author))
        client = client_for(user)
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/api/me/saved").status_code == 200
        return len(queries)

    assert count_for(2) == count_for(9)
