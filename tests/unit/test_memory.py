from core import memory


def test_releasing_freed_memory_is_safe_to_call_at_any_time():
    # when
    for _ in range(3):
        memory.release_freed_memory()

    # then: nothing raised, on glibc or elsewhere (a no-op without malloc_trim)
    assert memory._trim is None or callable(memory._trim)
