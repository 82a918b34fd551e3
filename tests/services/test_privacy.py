"""The privacy rule (accounts.selectors.content_visible / content_visible_filter): one
answer to "may this viewer see this owner's content", the same for one owner and a query."""

import pytest
from django.contrib.auth.models import AnonymousUser

from accounts.models import Block, Follow
from accounts.selectors import PrivateAccount, content_access_check, content_visible, content_visible_filter
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def case(viewer, owner) -> bool:
    one = content_visible(viewer=viewer, owner=owner)
    # a row with the owner as its user foreign key, so the filter can be asked too
    probe = UserFactory()
    Follow.objects.create(follower=probe, followee=owner)
    many = content_visible_filter(
        Follow.objects.filter(followee=owner, follower=probe), viewer=viewer, field="followee"
    ).exists()
    Follow.objects.filter(follower=probe).delete()
    assert one == many, "the single answer and the query disagree"
    return one


def test_public_account_is_visible_to_anyone():
    owner, stranger = UserFactory(), UserFactory()
    assert case(stranger, owner)
    assert case(AnonymousUser(), owner)


def test_private_account_is_hidden_from_strangers_and_anonymous():
    owner, stranger = UserFactory(is_private=True), UserFactory()
    assert not case(stranger, owner)
    assert not case(AnonymousUser(), owner)
    assert not case(None, owner)


def test_private_account_is_visible_to_its_followers_and_itself():
    owner, follower = UserFactory(is_private=True), UserFactory()
    Follow.objects.create(follower=follower, followee=owner)
    assert case(follower, owner)
    assert case(owner, owner)


@pytest.mark.parametrize("direction", ["owner_blocks", "viewer_blocks"])
@pytest.mark.parametrize("private", [False, True])
def test_a_block_either_way_hides_content_even_from_a_follower(direction, private):
    owner, viewer = UserFactory(is_private=private), UserFactory()
    Follow.objects.create(follower=viewer, followee=owner)
    if direction == "owner_blocks":
        Block.objects.create(blocker=owner, blocked=viewer)
    else:
        Block.objects.create(blocker=viewer, blocked=owner)
    assert not case(viewer, owner)


def test_access_check_refuses_with_403_private():
    owner, stranger = UserFactory(is_private=True), UserFactory()
    with pytest.raises(PrivateAccount) as refused:
        content_access_check(viewer=stranger, owner=owner)
    assert refused.value.status_code == 403
    assert refused.value.get_codes() == "private"
    content_access_check(viewer=owner, owner=owner)


def test_filter_is_one_query(django_assert_num_queries):
    owner, viewer = UserFactory(is_private=True), UserFactory()
    Follow.objects.create(follower=viewer, followee=owner)
    with django_assert_num_queries(1):
        assert list(content_visible_filter(Follow.objects.all(), viewer=viewer, field="followee"))
