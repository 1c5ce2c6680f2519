from __future__ import annotations

from app.cache import LruCache, TeamCache


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_team_cache_expires_after_ttl() -> None:
    clock = _Clock()
    cache: TeamCache[str, int] = TeamCache(30, clock)
    cache.put("k", "t1", 1)
    clock.now = 29.9
    assert cache.get("k") == 1
    clock.now = 30.0
    assert cache.get("k") is None


def test_team_cache_drops_one_team() -> None:
    cache: TeamCache[str, int] = TeamCache(30)
    cache.put("a", "t1", 1)
    cache.put("b", "t2", 2)
    cache.drop_team("t1")
    assert (cache.get("a"), cache.get("b")) == (None, 2)
    cache.clear()
    assert cache.get("b") is None


def test_team_cache_with_zero_ttl_stores_nothing() -> None:
    cache: TeamCache[str, int] = TeamCache(0)
    cache.put("a", "t1", 1)
    assert cache.get("a") is None


def test_lru_forgets_the_least_recently_used() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recent
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
