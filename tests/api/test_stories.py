"""Stories (DESIGN 6.4) through the REST API and the services: posting, the tray, seen
marks, "seen by", expiry, deletion, refusals and pruning."""

import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from PIL import Image

from accounts.models import Block, Follow
from feed import fanout
from feed.models import Story, StoryView
from feed.story_services import stories_prune
from tests.factories import UserFactory, image_bytes, image_upload

STORY_FIELDS = {"id", "author", "image_url", "created_at", "expires_at", "seen_by_me"}
BRIEF_FIELDS = {"id", "username", "full_name", "avatar_url"}


def post_story(client, **image_kwargs) -> dict:
    response = client.post("/api/stories", {"image": image_upload(**image_kwargs)}, format="multipart")
    assert response.status_code == 201, response.content
    return response.json()


def make_story(author, *, age: timedelta = timedelta(0), name: str = "stories/x.jpg") -> Story:
    """A story row posted `age` ago, without the API (for lists and expiry)."""
    created = timezone.now() - age
    return Story.objects.create(author=author, image=name, created_at=created, expires_at=created + timedelta(hours=24))


def follow(follower, followee) -> None:
    Follow.objects.create(follower=follower, followee=followee)


@pytest.fixture(autouse=True)
def _no_pending_fanout():
    yield
    assert fanout.wait_idle()


# --- create ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_posting_a_story_returns_it_live_for_24_hours_with_a_reencoded_stripped_image(user, client_for, settings):
    # given: a PNG with metadata in it
    exif = Image.Exif()
    exif[0x010E] = "secret description"
    # when
    body = post_story(client_for(user), fmt="JPEG", size=(600, 900), exif=exif.tobytes())
    # then
    assert set(body) == STORY_FIELDS
    assert set(body["author"]) == BRIEF_FIELDS and body["author"]["id"] == user.pk
    assert body["seen_by_me"] is False
    story = Story.objects.get(pk=body["id"])
    assert story.expires_at - story.created_at == timedelta(hours=24)
    assert body["created_at"].endswith("Z") and body["expires_at"].endswith("Z")
    assert body["image_url"] == story.image.url and body["image_url"].endswith(".jpg")
    with Image.open(settings.MEDIA_ROOT / story.image.name) as image:
        assert image.format == "JPEG" and image.size == (600, 900)
        assert not image.getexif()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("upload", "status", "code"),
    [
        (lambda: {"image": image_upload(name="x.txt", fmt="PNG")}, 201, None),
        (lambda: {}, 400, "invalid"),
        (lambda: {"image": ("bad.jpg", b"not an image at all")}, 400, "invalid"),
    ],
)
def test_a_story_needs_a_real_image(user, client_for, upload, status, code):
    from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: PLC0415 - this test's own input

    data = upload()
    if "image" in data and isinstance(data["image"], tuple):
        data["image"] = SimpleUploadedFile(data["image"][0], data["image"][1], content_type="image/jpeg")
    response = client_for(user).post("/api/stories", data, format="multipart")
    assert response.status_code == status, response.content
    if code:
        assert response.json()["code"] == code
        assert Story.objects.count() == 0


@pytest.mark.django_db
def test_an_oversized_story_image_is_413(user, client_for, settings):
    settings.IMAGE_MAX_PIXELS = 100 * 100
    response = client_for(user).post("/api/stories", {"image": image_upload(size=(200, 200))}, format="multipart")
    assert response.status_code == 413 and response.json()["code"] == "too_large"


@pytest.mark.django_db
def test_a_story_needs_a_login(api_client):
    assert api_client.get("/api/stories").status_code == 401
    assert api_client.post("/api/stories", {"image": image_upload()}, format="multipart").status_code == 401


# --- the tray --------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_tray_shows_mine_first_then_unseen_before_seen_each_oldest_story_first(client_for):
    # given: me, three people I follow with stories, one I do not follow
    me, ann, ben, cat, stranger = UserFactory.create_batch(5)
    for other in (ann, ben, cat):
        follow(me, other)
    ann_old = make_story(ann, age=timedelta(hours=5))
    ann_new = make_story(ann, age=timedelta(hours=1))
    ben_story = make_story(ben, age=timedelta(minutes=10))  # the newest, but seen
    cat_story = make_story(cat, age=timedelta(hours=3))
    mine = make_story(me, age=timedelta(hours=20))
    make_story(stranger)
    StoryView.objects.create(story=ben_story, viewer=me)
    StoryView.objects.create(story=ann_old, viewer=me)
    # when
    tray = client_for(me).get("/api/stories").json()
    # then
    assert [entry["user"]["id"] for entry in tray] == [me.pk, ann.pk, cat.pk, ben.pk]
    assert all(set(entry) == {"user", "stories", "all_seen"} for entry in tray)
    assert [s["id"] for s in tray[1]["stories"]] == [ann_old.pk, ann_new.pk]
    assert [s["seen_by_me"] for s in tray[1]["stories"]] == [True, False]
    assert [entry["all_seen"] for entry in tray] == [False, False, False, True]
    assert [s["id"] for s in tray[0]["stories"]] == [mine.pk]
    assert [s["id"] for s in tray[2]["stories"]] == [cat_story.pk]
    assert set(tray[0]["stories"][0]) == STORY_FIELDS


@pytest.mark.django_db
def test_expired_stories_leave_the_tray_and_every_list_at_once(client_for):
    # given: a story posted 24 hours and a second ago, and one 23 hours ago
    me, ann = UserFactory.create_batch(2)
    follow(me, ann)
    expired = make_story(ann, age=timedelta(hours=24, seconds=1))
    live = make_story(ann, age=timedelta(hours=23))
    client = client_for(me)
    # then
    tray = client.get("/api/stories").json()
    assert [s["id"] for s in tray[0]["stories"]] == [live.pk]
    assert [s["id"] for s in client.get(f"/api/users/{ann.username}/stories").json()["results"]] == [live.pk]
    assert client.post(f"/api/stories/{expired.pk}/seen").status_code == 404
    assert client_for(ann).get(f"/api/stories/{expired.pk}/viewers").status_code == 404
    # when everything has expired, the person leaves the tray
    Story.objects.filter(pk=live.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get("/api/stories").json() == []


@pytest.mark.django_db
def test_the_tray_is_two_queries_whatever_the_number_of_people(client_for):
    me = UserFactory()
    client = client_for(me)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/api/stories").status_code == 200
        return len(queries)

    few_people = UserFactory.create_batch(2)
    for other in few_people:
        follow(me, other)
        make_story(other)
    few = count()
    for other in UserFactory.create_batch(15):
        follow(me, other)
        make_story(other)
        make_story(other, age=timedelta(hours=2))
    assert count() == few


@pytest.mark.django_db
def test_a_block_either_way_takes_stories_out_of_the_tray(client_for):
    me, ann, ben = UserFactory.create_batch(3)
    follow(me, ann)
    follow(me, ben)
    make_story(ann)
    make_story(ben)
    Block.objects.create(blocker=ann, blocked=me)
    Block.objects.create(blocker=me, blocked=ben)
    assert client_for(me).get("/api/stories").json() == []


# --- seen, seen by ---------------------------------------------------------------------


@pytest.mark.django_db
def test_seen_is_idempotent_and_shows_in_the_tray_and_the_authors_viewers(client_for):
    # given
    me, ann, ben = UserFactory.create_batch(3)
    follow(me, ann)
    follow(ben, ann)
    story = make_story(ann)
    # when
    first = client_for(me).post(f"/api/stories/{story.pk}/seen")
    again = client_for(me).post(f"/api/stories/{story.pk}/seen")
    client_for(ben).post(f"/api/stories/{story.pk}/seen")
    client_for(ann).post(f"/api/stories/{story.pk}/seen")  # the author's own view is not listed
    # then
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["seen_by_me"] is True and set(first.json()) == STORY_FIELDS
    assert StoryView.objects.filter(story=story).count() == 3
    assert client_for(me).get("/api/stories").json()[0]["all_seen"] is True
    viewers = client_for(ann).get(f"/api/stories/{story.pk}/viewers").json()
    assert set(viewers) == {"results", "next"}
    assert [v["user"]["username"] for v in viewers["results"]] == [ben.username, me.username]
    assert all(set(v) == {"user", "seen_at"} for v in viewers["results"])


@pytest.mark.django_db
def test_only_the_author_sees_who_saw_a_story(client_for):
    me, ann = UserFactory.create_batch(2)
    story = make_story(ann)
    response = client_for(me).get(f"/api/stories/{story.pk}/viewers")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"


@pytest.mark.django_db
def test_viewers_page_by_cursor(client_for):
    ann = UserFactory()
    story = make_story(ann)
    for viewer in UserFactory.create_batch(5):
        StoryView.objects.create(story=story, viewer=viewer)
    client = client_for(ann)
    page = client.get(f"/api/stories/{story.pk}/viewers", {"limit": 3}).json()
    assert len(page["results"]) == 3 and page["next"]
    rest = client.get(page["next"]).json()
    assert len(rest["results"]) == 2 and rest["next"] is None


@pytest.mark.django_db
def test_a_block_either_way_makes_a_story_as_if_gone(client_for):
    me, ann = UserFactory.create_batch(2)
    story = make_story(ann)
    Block.objects.create(blocker=ann, blocked=me)
    client = client_for(me)
    for response in (
        client.post(f"/api/stories/{story.pk}/seen"),
        client.delete(f"/api/stories/{story.pk}"),
        client.get(f"/api/stories/{story.pk}/viewers"),
        client.get(f"/api/users/{ann.username}/stories"),
    ):
        assert response.status_code == 404, response.content
        assert response.json()["code"] == "not_found"
    assert not StoryView.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("story_id", ["0", "999999999", "9223372036854775807", "99999999999999999999"])
def test_a_missing_or_absurd_story_id_is_a_404(user, client_for, story_id):
    client = client_for(user)
    assert client.post(f"/api/stories/{story_id}/seen").status_code == 404
    assert client.delete(f"/api/stories/{story_id}").status_code == 404
    assert client.get(f"/api/stories/{story_id}/viewers").status_code == 404


# --- a person's stories ----------------------------------------------------------------


@pytest.mark.django_db
def test_a_persons_live_stories_oldest_first(client_for):
    me, ann = UserFactory.create_batch(2)
    older = make_story(ann, age=timedelta(hours=3))
    newer = make_story(ann)
    body = client_for(me).get(f"/api/users/{ann.username}/stories").json()
    assert [s["id"] for s in body["results"]] == [older.pk, newer.pk]
    assert client_for(me).get("/api/users/nobody_here/stories").status_code == 404


# --- delete ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_only_the_author_deletes_a_story_and_its_file_goes(client_for, settings):
    ann, me = UserFactory.create_batch(2)
    story = post_story(client_for(ann))
    path = settings.MEDIA_ROOT / Story.objects.get(pk=story["id"]).image.name
    assert path.exists()
    refused = client_for(me).delete(f"/api/stories/{story['id']}")
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    assert client_for(ann).delete(f"/api/stories/{story['id']}").status_code == 204
    assert not Story.objects.filter(pk=story["id"]).exists()
    assert not path.exists()
    assert client_for(ann).delete(f"/api/stories/{story['id']}").status_code == 404


# --- pruning ---------------------------------------------------------------------------


def write_file(settings, name: str) -> None:
    path = settings.MEDIA_ROOT / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(image_bytes())


@pytest.mark.django_db(transaction=True)
def test_prune_stories_deletes_the_expired_rows_seen_marks_and_files_and_keeps_live_ones(settings, capsys):
    # given: two expired stories (one seen) and a live one, with their files
    ann, me = UserFactory.create_batch(2)
    expired = [make_story(ann, age=timedelta(hours=25), name=f"stories/old{i}.jpg") for i in range(2)]
    live = make_story(ann, name="stories/live.jpg")
    for story in (*expired, live):
        write_file(settings, story.image.name)
    StoryView.objects.create(story=expired[0], viewer=me)
    # when
    call_command("prune_stories")
    # then
    assert "Pruned 2 expired stories." in capsys.readouterr().out
    assert list(Story.objects.values_list("pk", flat=True)) == [live.pk]
    assert not StoryView.objects.exists()
    assert not (settings.MEDIA_ROOT / "stories/old0.jpg").exists()
    assert not (settings.MEDIA_ROOT / "stories/old1.jpg").exists()
    assert (settings.MEDIA_ROOT / "stories/live.jpg").exists()
    # and again: nothing to do, no error (a file already gone is fine too)
    call_command("prune_stories")
    assert "Pruned 0 expired stories." in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_prune_stories_in_batches_and_twice_at_once_deletes_each_story_once(settings):
    if connection.vendor == "sqlite":
        pytest.skip("the in-memory test database fails a second writer at once; a SQLite file waits (settings)")
    # given: 25 expired stories, some of their files missing already
    ann = UserFactory()
    stories = [make_story(ann, age=timedelta(days=2), name=f"stories/s{i}.jpg") for i in range(25)]
    for story in stories[::2]:
        write_file(settings, story.image.name)
    # when: two runs at once, in small batches
    counts: list[int] = []
    errors: list[BaseException] = []

    def run():
        try:
            counts.append(stories_prune(batch=4))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # then
    assert not errors
    assert sum(counts) == 25
    assert not Story.objects.exists()
    assert not any((settings.MEDIA_ROOT / s.image.name).exists() for s in stories)


# --- private accounts ------------------------------------------------------------------


@pytest.mark.django_db
def test_a_private_accounts_stories_are_for_its_approved_followers_only(client_for):
    # given: a private account with a story, an approved follower and a stranger
    owner, follower, stranger = UserFactory.create_batch(3)
    owner.is_private = True
    owner.save(update_fields=["is_private"])
    follow(follower, owner)
    story = make_story(owner)
    # then: the stranger gets 403 `private` everywhere, and nothing in the tray
    client = client_for(stranger)
    for response in (
        client.get(f"/api/users/{owner.username}/stories"),
        client.post(f"/api/stories/{story.pk}/seen"),
        client.get(f"/api/stories/{story.pk}/viewers"),
        client.delete(f"/api/stories/{story.pk}"),
    ):
        assert response.status_code == 403, response.content
        assert response.json()["code"] == "private"
    assert client.get("/api/stories").json() == []
    assert not StoryView.objects.exists()
    # and the approved follower sees and watches it
    ok = client_for(follower)
    assert [e["user"]["id"] for e in ok.get("/api/stories").json()] == [owner.pk]
    assert [s["id"] for s in ok.get(f"/api/users/{owner.username}/stories").json()["results"]] == [story.pk]
    assert ok.post(f"/api/stories/{story.pk}/seen").status_code == 201
