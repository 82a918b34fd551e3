"""REDIS_URL's Sentinel form: `redis+sentinel://host:port[,host:port...]/master_name[/db]`."""

import pytest

from core.redis import SentinelAddress, sentinel_address


def test_a_plain_url_is_not_sentinel():
    assert sentinel_address("redis://localhost:6379/0") is None


def test_sentinels_master_and_db_are_read():
    assert sentinel_address("redis+sentinel://10.0.0.1:26379,10.0.0.2:26380,sentinel-c/mymaster/2") == SentinelAddress(
        (("10.0.0.1", 26379), ("10.0.0.2", 26380), ("sentinel-c", 26379)), "mymaster", 2
    )
    assert sentinel_address("redis+sentinel://s1:26379/mymaster").db == 0


def test_a_master_name_is_required():
    with pytest.raises(ValueError):
        sentinel_address("redis+sentinel://s1:26379/")
