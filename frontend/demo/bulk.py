"""The medium demo world of `seed_demo --scale medium`, for the benchmarks: 10,000 people,
200,000 posts, 500,000 follows (a few accounts followed by thousands), 1,000,000 likes.

Rows go in bulk, past the services: COPY on PostgreSQL, multi-row INSERTs elsewhere, in one
transaction, then the denormalised counts are computed in a few UPDATEs. Every post gets
image files of its own under an unguessable name, as hard links into a pool of generated
photos (deleting one post deletes only its links). Columns the code here does not name are
filled with their model defaults, so a field added later does not break the seeder.
"""

import os
import random
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import connection, models, transaction
from django.utils import timezone
from PIL import ImageOps
from psycopg import sql

from accounts.models import Follow, User
from core.crypto import KeyedHashField
from feed.hashtags import tag_names
from feed.models import Hashtag, Like, Post, PostHashtag
from frontend.demo import photos
from frontend.demo.counts import recount_people, recount_posts, recount_tags
from frontend.demo.world import CAPTIONS, DEMO_DOMAIN, DEMO_PASSWORD, FIRST, LAST

MARKER_USERNAME = "bench"
PHOTO_EDGE = 640
ALL_CAPTIONS = [caption for captions in CAPTIONS.values() for caption in captions]
CHUNK = 10_000


@dataclass(frozen=True)
class Scale:
    users: int
    posts: int
    follows: int
    likes: int
    celebrities: int = 12  # accounts followed by thousands
    celebrity_followers: tuple[int, int] = (2_000, 8_000)
    photo_pool: int = 24

    @property
    def total_steps(self) -> int:
        return sum(-(-n // CHUNK) for n in (self.users, self.follows, self.posts, self.likes)) + self.photo_pool + 2


MEDIUM = Scale(users=10_000, posts=200_000, follows=500_000, likes=1_000_000)

Progress = Callable[[str, int], None]


def insert_rows(
    model: type[models.Model], columns: Sequence[str], rows: Iterable[tuple], *, progress: Progress, stage: str
) -> int:
    """Inserts `rows` (values for `columns`, in order) into the model's table; columns not
    named get the field's default. COPY on PostgreSQL, executemany elsewhere. Returns the
    number of rows."""
    fields = {f.attname: f for f in model._meta.concrete_fields if not f.primary_key}
    # A keyed hash of a named column (the email's) is computed from it, as its pre_save would.
    hashed = [
        (f, list(columns).index(f.source))
        for f in fields.values()
        if isinstance(f, KeyedHashField) and f.attname not in columns and f.source in columns
    ]
    hashed_fields = [f for f, _ in hashed]
    rest = [f for name, f in fields.items() if name not in columns and f not in hashed_fields]
    defaults = tuple(f.get_db_prep_save(f.get_default(), connection) for f in rest)
    names = [fields[c].column for c in columns] + [f.column for f in hashed_fields] + [f.column for f in rest]
    table = model._meta.db_table
    postgres = connection.vendor == "postgresql"
    datetime_at = [] if postgres else [i for i, c in enumerate(columns) if isinstance(fields[c], models.DateTimeField)]
    # Fields of the project's own (an encrypted column) prepare their values themselves.
    own = [(i, fields[c]) for i, c in enumerate(columns) if not type(fields[c]).__module__.startswith("django.")]
    count = 0
    batch: list[tuple] = []

    def flush() -> None:
        if not batch:
            return
        with connection.cursor() as cursor:
            if postgres:
                statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
                    sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, names))
                )
                with cursor.cursor.copy(statement) as copy:
                    for row in batch:
                        copy.write_row(row)
            else:
                quoted = ", ".join(connection.ops.quote_name(n) for n in names)
                marks = ", ".join(["%s"] * len(names))
                cursor.executemany(f"INSERT INTO {connection.ops.quote_name(table)} ({quoted}) VALUES ({marks})", batch)
        progress(stage, 1)
        batch.clear()

    for row in rows:
        extra = tuple(f.hash_of(row[i]) for f, i in hashed)
        if datetime_at or own:
            values = list(row)
            for i in datetime_at:
                values[i] = connection.ops.adapt_datetimefield_value(values[i])
            for i, field in own:
                values[i] = field.get_db_prep_save(values[i], connection)
            row = tuple(values)
        batch.append(row + extra + defaults)
        count += 1
        if len(batch) >= CHUNK:
            flush()
    flush()
    return count


def _photo_pool(rng: random.Random, n: int, progress: Progress) -> list[tuple[Path, Path]]:
    """`n` generated photos and their square thumbnails, written once under MEDIA_ROOT."""
    folder = Path(settings.MEDIA_ROOT) / "demo" / "pool"
    folder.mkdir(parents=True, exist_ok=True)
    pool = []
    for i in range(n):
        _, picture = photos.photo(rng, (PHOTO_EDGE, PHOTO_EDGE))
        image, thumb = folder / f"{i}.jpg", folder / f"{i}-thumb.jpg"
        image.write_bytes(photos.jpeg(picture))
        thumb.write_bytes(photos.jpeg(ImageOps.fit(picture, (320, 320))))
        pool.append((image, thumb))
        progress("photos", 1)
    return pool


_folders: set[str] = set()


def _link(source: Path, kind: str) -> str:
    """A new name under MEDIA_ROOT/<kind>/demo/ for the same bytes (a hard link; a copy
    where links do not work); returns the storage name."""
    token = secrets.token_hex(16)
    folder = f"{settings.MEDIA_ROOT}/{kind}/demo/{token[:2]}"
    if folder not in _folders:
        os.makedirs(folder, exist_ok=True)
        _folders.add(folder)
    target = f"{folder}/{token}.jpg"
    try:
        os.link(source, target)
    except OSError:
        Path(target).write_bytes(source.read_bytes())
    return f"{kind}/demo/{token[:2]}/{token}.jpg"


def _usernames(rng: random.Random, n: int) -> list[str]:
    names = [MARKER_USERNAME]
    for i in range(1, n):
        names.append(f"{rng.choice(FIRST)}.{rng.choice(LAST)}{i}".lower())
    return names


def _skewed(rng: random.Random, n: int, power: float) -> int:
    """An index in [0, n), small ones far likelier (power > 1)."""
    return min(n - 1, int(n * rng.random() ** power))


def build_medium_world(*, seed: int = 2026, scale: Scale = MEDIUM, progress: Progress | None = None) -> None:
    rng = random.Random(seed)
    step = progress or (lambda stage, n=1: None)
    now = timezone.now()
    password = make_password(DEMO_PASSWORD)  # hashed once: every one of them logs in with it
    with transaction.atomic():
        pool = _photo_pool(rng, scale.photo_pool, step)
        # People
        before = User.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        usernames = _usernames(rng, scale.users)
        insert_rows(
            User,
            ["username", "email", "full_name", "password", "date_joined", "is_active"],
            (
                (u, f"{u}@{DEMO_DOMAIN}", u.split(".")[0].title(), password, now - timedelta(days=400), True)
                for u in usernames
            ),
            progress=step,
            stage="people",
        )
        # The seeder is the only writer of an empty database: the new ids are theirs, in order.
        ids = list(User.objects.filter(pk__gt=before).order_by("pk").values_list("pk", flat=True))
        assert len(ids) == len(usernames), "someone else registered during seeding"

        # Follows: the celebrities (users 1..celebrities) followed by thousands each, the
        # rest drawn with a skew (some people far more followed than others).
        n = len(ids)
        pairs: set[int] = set()
        for c in range(1, scale.celebrities + 1):
            fans = rng.sample(range(n), min(n - 1, rng.randint(*scale.celebrity_followers)))
            pairs.update(f * n + c for f in fans if f != c)
        while len(pairs) < scale.follows:
            follower, followee = rng.randrange(n), _skewed(rng, n, 1.8)
            if follower != followee:
                pairs.add(follower * n + followee)
        follow_times = now - timedelta(days=200)
        insert_rows(
            Follow,
            ["follower_id", "followee_id", "created_at"],
            ((ids[p // n], ids[p % n], follow_times) for p in sorted(pairs)),
            progress=step,
            stage="follows",
        )
        del pairs

        # Posts: authors skewed, times spread over 60 days (ids in time order).
        before_post = Post.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        offsets = sorted((rng.uniform(0, 60 * 86400) for _ in range(scale.posts)), reverse=True)

        templates: list[int] = []  # the caption template of each post, for its tags

        def post_rows():
            for i, seconds in enumerate(offsets):
                image, thumb = pool[i % len(pool)]
                friend = usernames[rng.randrange(n)]
                template = rng.randrange(len(ALL_CAPTIONS))
                templates.append(template)
                yield (
                    ids[_skewed(rng, n, 1.4)],
                    _link(image, "posts"),
                    _link(thumb, "thumbs"),
                    PHOTO_EDGE,
                    PHOTO_EDGE,
                    ALL_CAPTIONS[template].format(friend=friend),
                    now - timedelta(seconds=seconds),
                )

        insert_rows(
            Post,
            ["author_id", "image", "thumbnail", "image_width", "image_height", "caption", "created_at"],
            post_rows(),
            progress=step,
            stage="posts",
        )
        post_ids = list(Post.objects.filter(pk__gt=before_post).order_by("pk").values_list("pk", flat=True))
        _index_tags(post_ids, templates, step)

        # Likes: newer posts likelier.
        p = len(post_ids)
        likes: set[int] = set()
        while len(likes) < scale.likes:
            likes.add(rng.randrange(n) * p + (p - 1 - _skewed(rng, p, 1.6)))
        insert_rows(
            Like,
            ["user_id", "post_id", "created_at"],
            ((ids[k // p], post_ids[k % p], now) for k in sorted(likes)),
            progress=step,
            stage="likes",
        )
        del likes

        _recount(user_ids=(ids[0], ids[-1]), post_ids=(post_ids[0], post_ids[-1]))
        step("counts", 1)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    step("analyze", 1)


def _index_tags(post_ids: list[int], templates: list[int], progress: Progress) -> None:
    """The hashtag rows of the inserted posts (as feed.hashtags would make them one by
    one): a Hashtag per name, a PostHashtag per post and tag, and each tag's post_count."""
    names = sorted({name for caption in ALL_CAPTIONS for name in tag_names(caption)})
    Hashtag.objects.bulk_create([Hashtag(name=name) for name in names], ignore_conflicts=True)
    tag_ids = dict(Hashtag.objects.filter(name__in=names).values_list("name", "pk"))
    tags_of = [[tag_ids[name] for name in tag_names(caption)] for caption in ALL_CAPTIONS]
    insert_rows(
        PostHashtag,
        ["hashtag_id", "post_id"],
        ((tag, post) for post, template in zip(post_ids, templates, strict=True) for tag in tags_of[template]),
        progress=progress,
        stage="hashtags",
    )
    recount_tags(Hashtag.objects.filter(pk__in=tag_ids.values()))


def _recount(*, user_ids: tuple[int, int], post_ids: tuple[int, int]) -> None:
    """The denormalised counts of the inserted people and posts, from their rows."""
    recount_people(User.objects.filter(pk__gte=user_ids[0], pk__lte=user_ids[1]))
    recount_posts(Post.objects.filter(pk__gte=post_ids[0], pk__lte=post_ids[1]))
