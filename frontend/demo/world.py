"""The small demo world of `seed_demo`: a few dozen people with avatars, posts with
generated photos, follows, likes, comments with hashtags and mentions, stories, and
conversations, all made through the same services the API calls (so every count,
notification and event is what real use would have left), in one transaction.

Everything is drawn from a seeded random generator: the same seed makes the same world.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.hashers import make_password
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from accounts.models import Follow, User
from accounts.services import follow_create, follow_start, profile_update
from chat.services import conversation_mark_read, conversation_open, message_send
from feed import fanout
from feed.models import Comment, Like, Post, Story
from feed.services import comment_create, like_create, post_create
from feed.story_services import story_create, story_mark_seen
from frontend.demo import photos
from frontend.demo.counts import recount_people, recount_posts

DEMO_DOMAIN = "demo.instaclone.test"
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "lakeside-demo-2026"

FIRST = [
    "Maya",
    "Theo",
    "Lena",
    "Omar",
    "Ines",
    "Jonas",
    "Aiko",
    "Mateo",
    "Nora",
    "Ravi",
    "Sofia",
    "Elias",
    "Amara",
    "Felix",
    "Yara",
    "Luca",
    "Hana",
    "Idris",
    "Clara",
    "Kofi",
    "Mila",
    "Noah",
    "Zoe",
    "Arjun",
    "Freya",
    "Leo",
    "Nina",
    "Sami",
    "Ella",
    "Tomas",
    "Ada",
    "Kai",
    "Lina",
    "Marek",
    "Rosa",
    "Emil",
]
LAST = [
    "Lind",
    "Okafor",
    "Berg",
    "Haddad",
    "Moreau",
    "Keller",
    "Tanaka",
    "Rossi",
    "Silva",
    "Iyer",
    "Novak",
    "Brandt",
    "Mensah",
    "Costa",
    "Kaya",
    "Weber",
    "Sato",
    "Dubois",
    "Larsen",
    "Adeyemi",
    "Kowalski",
    "Fischer",
    "Park",
]
BIOS = [
    "Chasing light and coffee.",
    "Film and digital. Mostly lakes.",
    "City walker, night owl.",
    "Plants, bikes, bread.",
    "Weekend hiker 🏔",
    "Collecting sunsets since 2019.",
    "Designer. Amateur baker.",
    "Trying to photograph every bridge in town.",
    "Here for the golden hour.",
    "",
    "Dog person. Cat tolerant.",
]
# Captions by the kind of picture they go with (frontend.demo.photos.SCENES).
CAPTIONS = {
    "landscape": [
        "Golden hour at the lake #sunset #lake",
        "First light over the hills #morning #hiking",
        "Could look at this all day #view",
        "Out with @{friend} by the water — best day in a while #friends #lake",
        "Weekend plans: this, again. #weekend #outdoors",
    ],
    "city": [
        "The city never really sleeps #citylights #night",
        "Rooftop season is back #summer #city",
        "Walking home with @{friend} #streetphotography",
        "Windows at dusk #architecture #evening",
    ],
    "bokeh": [
        "Blurry lights, clear head #bokeh #evening",
        "New lens, who dis #photography",
        "Festival night with @{friend} #lights",
    ],
    "flower": [
        "Found these on the morning walk #flowers #spring",
        "@{friend} this one is for you #flowers",
        "The balcony is finally blooming #garden",
    ],
}
COMMENTS = [
    "Love this! #goals",
    "@{author} where is this?",
    "Wow, the colours 😍",
    "Take me there #travel",
    "This is so calm",
    "Frame it. Seriously.",
    "@{other} we have to go here",
    "Great shot #photography",
    "That light!",
    "Saving this for later",
]
DIALOGUES = [
    [
        "Are you coming to the lake on Saturday?",
        "Yes! I'll bring the camera.",
        "Great, see you at 9 by the pier.",
        "Perfect 🙌",
    ],
    ["Did you see the sunset yesterday?", "I was on the bridge, got a few shots", "Send them!", "Posting one tonight"],
    ["Coffee tomorrow?", "Always. The place on the corner?", "8:30 works", "See you there ☕"],
    ["Your last post is amazing", "Thank you!! It was pure luck", "Luck and a tripod 😄"],
    ["Happy birthday!! 🎉", "Thank you 💛", "Dinner this week?", "Thursday?", "Thursday it is"],
]
GROUP_LINES = [
    "Trip planning thread! Where do we go this time?",
    "Mountains. Obviously.",
    "I vote for the coast",
    "Both? Coast on Saturday, hills on Sunday",
    "Deal. I'll book the cabin",
]


@dataclass(frozen=True)
class SmallCounts:
    people: int = 36
    posts_per_person: tuple[int, int] = (1, 4)
    follows_per_person: tuple[int, int] = (5, 14)
    storytellers: int = 10


def _upload(data: bytes, name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="image/jpeg")


def _people_names(rng: random.Random, n: int, taken: set[str]) -> list[tuple[str, str]]:
    """`n` (username, full name) pairs, none of them in `taken` (lowercase)."""
    firsts = FIRST[:]
    rng.shuffle(firsts)
    out = []
    taken = {*taken, DEMO_USERNAME}
    for i in range(n):
        first = firsts[i % len(firsts)]
        last = rng.choice(LAST)
        style = rng.randrange(4)
        username = [f"{first}.{last}", f"{first}_{last[0]}", f"{first}{last}", f"{first}.shoots"][style].lower()
        while username in taken:
            username = f"{username}{rng.randint(1, 9)}"
        taken.add(username)
        out.append((username, f"{first} {last}"))
    return out


def build_small_world(
    *, seed: int = 2026, counts: SmallCounts | None = None, progress: Callable[[str, int], None] | None = None
) -> User:
    """Makes the demo world and returns the demo user. One transaction: an interrupted
    run leaves nothing behind but image files nothing refers to."""
    counts = counts or SmallCounts()
    rng = random.Random(seed)
    step = progress or (lambda label, n=1: None)
    now = timezone.now()
    password = make_password(DEMO_PASSWORD)

    with transaction.atomic():
        # People: the demo account first, then the rest.
        existing = {name.lower() for name in User.objects.values_list("username", flat=True)}
        names = [(DEMO_USERNAME, "Demo Person"), *_people_names(rng, counts.people - 1, existing)]
        people = User.objects.bulk_create(
            [
                User(
                    username=username,
                    email=f"{username}@{DEMO_DOMAIN}",
                    full_name=full_name,
                    bio=rng.choice(BIOS),
                    password=password,
                    date_joined=now - timedelta(days=rng.randint(20, 400)),
                )
                for username, full_name in names
            ]
        )
        people = list(User.objects.filter(username__in=[u for u, _ in names]).order_by("id"))
        demo = people[0]
        step("people", len(people))
        for n, person in enumerate(people):
            avatar = photos.jpeg(photos.avatar(rng), quality=88)
            profile_update(user=person, avatar=_upload(avatar, f"avatar{n}.jpg"))
            step("avatars", 1)

        # Follows: everyone follows a handful; the demo account follows most people, and
        # most people follow it back, so its feed, tray and inbox are full. Follows of the
        # demo account go through the service (its notifications are part of the demo);
        # the rest go in bulk, counts recomputed after.
        bulk_follows: list[Follow] = []
        for person in people:
            others = [p for p in people if p.pk != person.pk]
            low, high = counts.follows_per_person
            chosen = rng.sample(others, min(len(others), rng.randint(low, high)))
            if person is demo:
                chosen = rng.sample(others, int(len(others) * 0.8))
            elif rng.random() < 0.7 and demo not in chosen:
                chosen.append(demo)
            for followee in chosen:
                if followee is demo:
                    follow_create(follower=person, followee=followee)
                else:
                    bulk_follows.append(Follow(follower=person, followee=followee, created_at=now))
            step("follows", 1)
        Follow.objects.bulk_create(bulk_follows, ignore_conflicts=True)

        # Posts with generated photos; captions with hashtags and mentions.
        posts: list[Post] = []
        for person in people:
            for _ in range(rng.randint(*counts.posts_per_person)):
                friend = rng.choice([p for p in people if p.pk != person.pk])
                kind, picture = photos.photo(rng, (480, 480))
                caption = rng.choice(CAPTIONS[kind]).format(friend=friend.username)
                image = photos.jpeg(picture)
                posts.append(post_create(author=person, image=_upload(image, "photo.jpg"), caption=caption))
                step("posts", 1)
        # Spread over the last two weeks, newest ids newest.
        ages = sorted((rng.uniform(0.3, 14 * 24) for _ in posts), reverse=True)
        for post, hours in zip(posts, ages, strict=True):
            Post.objects.filter(pk=post.pk).update(created_at=now - timedelta(hours=hours))
            post.created_at = now - timedelta(hours=hours)

        # Likes and comments from people who would see the post: through the services on
        # the demo account's posts (its notifications), in bulk on the others.
        bulk_likes: list[Like] = []
        for post in posts:
            audience = [p for p in people if p.pk != post.author_id]
            for liker in rng.sample(audience, rng.randint(0, min(10, len(audience)))):
                if post.author_id == demo.pk:
                    like_create(user=liker, post_id=post.pk)
                else:
                    bulk_likes.append(Like(user=liker, post=post))
            for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
                commenter = rng.choice(audience)
                other = rng.choice(people)
                body = rng.choice(COMMENTS).format(author=post.author.username, other=other.username)
                comment = comment_create(author=commenter, post_id=post.pk, body=body)
                Comment.objects.filter(pk=comment.pk).update(
                    created_at=post.created_at + timedelta(minutes=rng.randint(2, 600))
                )
            step("likes and comments", 1)
        Like.objects.bulk_create(bulk_likes, ignore_conflicts=True)
        recount_people(User.objects.filter(pk__in=[p.pk for p in people]))
        recount_posts(Post.objects.filter(pk__in=[p.pk for p in posts]))

        # Stories, some already seen by the demo account.
        tellers = [demo, *rng.sample(people[1:], counts.storytellers - 1)]
        for person in tellers:
            for _ in range(rng.randint(1, 2)):
                image = photos.jpeg(photos.photo(rng, (405, 720))[1])
                story = story_create(author=person, image=_upload(image, "story.jpg"))
                created = now - timedelta(minutes=rng.randint(5, 20 * 60))
                Story.objects.filter(pk=story.pk).update(created_at=created, expires_at=created + timedelta(hours=24))
                if person is not demo and rng.random() < 0.3:
                    story_mark_seen(viewer=demo, story_id=story.pk)
                for viewer in rng.sample(people[1:], 4) if person is demo else []:
                    story_mark_seen(viewer=viewer, story_id=story.pk)
                step("stories", 1)

        # Conversations through the chat services: 1:1s with the demo account and a group.
        friends = rng.sample(people[1:], len(DIALOGUES))
        for n, (friend, lines) in enumerate(zip(friends, DIALOGUES, strict=True)):
            conversation, _ = conversation_open(creator=friend, usernames=[demo.username])
            last = None
            for k, line in enumerate(lines):
                sender = friend if k % 2 == 0 else demo
                last, _ = message_send(
                    sender=sender, conversation_id=conversation.pk, body=line, client_id=f"demo-{n}-{k}"
                )
                step("messages", 1)
            if last is not None and n % 2 == 0:
                conversation_mark_read(user=demo, conversation_id=conversation.pk, message_id=last.pk)
        group_members = rng.sample(people[1:], 3)
        group, _ = conversation_open(
            creator=group_members[0], usernames=[demo.username, *[p.username for p in group_members[1:]]]
        )
        for k, line in enumerate(GROUP_LINES):
            sender = [*group_members, demo][k % 4]
            message_send(sender=sender, conversation_id=group.pk, body=line, client_id=f"demo-group-{k}")
            step("messages", 1)

        # Two accounts went private lately: people who do not follow them ask to (requests
        # waiting), the demo account among them for one of the two.
        private = rng.sample(people[1:], 2)
        for owner in private:
            profile_update(user=owner, is_private=True)
            followers = set(Follow.objects.filter(followee=owner).values_list("follower_id", flat=True))
            askers = [p for p in people[1:] if p.pk != owner.pk and p.pk not in followers]
            for asker in rng.sample(askers, min(3, len(askers))):
                follow_start(follower=asker, followee=owner)
        if not Follow.objects.filter(follower=demo, followee=private[1]).exists():
            follow_start(follower=demo, followee=private[1])
    fanout.wait_idle(60)
    return demo


def small_world_steps(counts: SmallCounts | None = None) -> int:
    """About how many progress steps build_small_world reports (for the bar's total)."""
    counts = counts or SmallCounts()
    posts = counts.people * sum(counts.posts_per_person) // 2
    return counts.people * 3 + posts * 2 + counts.storytellers * 2 + sum(map(len, DIALOGUES)) + len(GROUP_LINES)
