"""`story.new` (DESIGN 6.4): an ephemeral push to the author's online followers after
commit, off the request path, never across a block."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Block, Follow
from accounts.serializers import user_brief
from feed import fanout
from feed.models import Story
from feed.serializers import story_payload
from realtime.publish import frame_message
from tests.factories import UserFactory, image_upload
from tests.services.test_fanout import collect, online


@pytest.mark.django_db(transaction=True)
def test_a_new_story_reaches_online_followers_and_the_authors_tabs_only(client_for):
    # given: two online followers, one blocked by the author, an online stranger, an
    # offline follower
    author = UserFactory()
    fans = UserFactory.create_batch(4)
    Follow.objects.bulk_create([Follow(follower=f, followee=author) for f in fans])
    watching, blocked, offline = fans[:2], fans[2], fans[3]
    stranger = UserFactory()
    for user in (*watching, blocked, stranger, author):
        online(user)
    Block.objects.create(blocker=author, blocked=blocked)
    client = client_for(author)

    def post_it():
        response = client.post("/api/stories", {"image": image_upload()}, format="multipart")
        assert fanout.wait_idle(20)
        return response

    # when
    response, received = collect([*watching, blocked, stranger, offline, author], post_it)

    # then: each online follower (and the author's own tabs) got it once, as the API shows it
    assert response.status_code == 201
    story = Story.objects.select_related("author").get(pk=response.json()["id"])
    expected = {"user": user_brief(author), "story": story_payload(story)}
    assert expected["story"] == response.json()
    for user in (*watching, author):
        assert received[user.pk] == [frame_message({"type": "story.new", "data": expected})]
    for user in (blocked, stranger, offline):
        assert received[user.pk] == []


@pytest.mark.django_db(transaction=True)
def test_a_story_deleted_or_expired_before_its_push_is_not_pushed():
    author = UserFactory()
    past = timezone.now() - timedelta(days=2)
    expired = Story.objects.create(
        author=author, image="stories/x.jpg", created_at=past, expires_at=past + timedelta(hours=24)
    )
    assert fanout.story_fan_out(expired.pk) == 0
    assert fanout.story_fan_out(10**9) == 0
