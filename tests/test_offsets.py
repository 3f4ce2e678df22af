from __future__ import annotations

import pytest

from tikstream.offsets import OwedOffsets, commit_offset, commit_offsets


@pytest.mark.parametrize(
    ("next_to_consume", "owed", "committed", "expected"),
    [
        pytest.param(10, [], None, 10, id="nothing-owed-first-commit"),
        pytest.param(10, [None, None], None, 10, id="owners-with-nothing-on-partition"),
        pytest.param(10, [4], None, 4, id="one-owner-holds-back"),
        pytest.param(10, [7, 4, 9], None, 4, id="lowest-owner-wins"),
        pytest.param(10, [4, None], 4, None, id="no-advance-when-still-owed"),
        pytest.param(10, [6], 4, 6, id="advance-to-owed"),
        pytest.param(10, [], 10, None, id="already-committed"),
        pytest.param(10, [], 12, None, id="never-backwards"),
        pytest.param(10, [12], None, 10, id="owed-beyond-consumed-ignored"),
        pytest.param(10, [10], None, 10, id="owed-equal-next"),
        pytest.param(0, [], None, 0, id="empty-partition-start"),
        pytest.param(1, [0], None, 0, id="first-record-owed"),
        pytest.param(1, [0], 0, None, id="first-record-owed-already-at-zero"),
        pytest.param(5, [3, 3], 2, 3, id="two-owners-same-offset"),
    ],
)
def test_commit_offset(
    next_to_consume: int, owed: list[int | None], committed: int | None, expected: int | None
) -> None:
    assert commit_offset(next_to_consume, owed, committed) == expected


def test_commit_offsets_across_partitions() -> None:
    consumed = {("t", 0): 100, ("t", 1): 50, ("t", 2): 7}
    owed = [{("t", 0): 40}, {("t", 0): 60, ("t", 1): 49}, {}]
    committed = {("t", 2): 7}
    assert commit_offsets(consumed, owed, committed) == {("t", 0): 40, ("t", 1): 49}


def test_commit_offsets_never_passes_an_owed_record_randomised() -> None:
    import random

    rng = random.Random(7)
    for _ in range(2000):
        nxt = rng.randrange(0, 1000)
        owed = [rng.choice([None, rng.randrange(0, 1200)]) for _ in range(rng.randrange(0, 4))]
        committed = rng.choice([None, rng.randrange(0, 1000)])
        result = commit_offset(nxt, owed, committed)
        if result is not None:
            assert result <= nxt
            assert all(o is None or o >= nxt or result <= o for o in owed)
            assert committed is None or result > committed


# -- OwedOffsets ----------------------------------------------------------------------------------------------

A, B = ("t", 0), ("t", 1)


def test_owed_offsets_starts_empty() -> None:
    owed = OwedOffsets()
    assert not owed and owed.lowest() == {}


def test_an_offset_counted_twice_is_owed_until_released_twice() -> None:
    owed = OwedOffsets()
    owed.add(A, 5)
    owed.add(A, 5)
    owed.release(A, 5)
    assert owed and owed.lowest() == {A: 5}
    owed.release(A, 5)
    assert not owed and owed.lowest() == {}


def test_lowest_is_per_partition_whatever_the_order_of_adds_and_releases() -> None:
    owed = OwedOffsets()
    for offset in (9, 3, 7):
        owed.add(A, offset)
    owed.add(B, 40)
    assert owed.lowest() == {A: 3, B: 40}
    owed.release(A, 3)
    assert owed.lowest() == {A: 7, B: 40}
    owed.release(A, 9)
    owed.release(B, 40)
    assert owed.lowest() == {A: 7}


@pytest.mark.parametrize(("partition", "offset"), [pytest.param(A, 6, id="unknown-offset"),
                                                   pytest.param(B, 5, id="unknown-partition")])
def test_releasing_what_is_not_owed_does_nothing(partition: tuple[str, int], offset: int) -> None:
    owed = OwedOffsets()
    owed.add(A, 5)
    owed.release(partition, offset)
    assert owed.lowest() == {A: 5}


def test_a_released_offset_released_again_does_not_release_another_count() -> None:
    owed = OwedOffsets()
    owed.add(A, 5)
    owed.release(A, 5)
    owed.release(A, 5)  # no-op: nothing is owed any more
    owed.add(A, 5)
    assert owed.lowest() == {A: 5}


def test_drop_forgets_only_the_partitions_named() -> None:
    owed = OwedOffsets()
    owed.add(A, 1)
    owed.add(A, 1)
    owed.add(B, 2)
    owed.drop([A, ("t", 9)])
    assert owed.lowest() == {B: 2}
    owed.release(A, 1)  # released after the drop: a no-op
    owed.add(A, 8)
    assert owed.lowest() == {A: 8, B: 2}
    owed.drop([B, A])
    assert not owed


def test_owed_offsets_agree_with_a_counted_model_randomised() -> None:
    import random
    from collections import Counter

    rng = random.Random(11)
    owed, model = OwedOffsets(), {A: Counter[int](), B: Counter[int]()}
    for _ in range(3000):
        p, offset, op = rng.choice([A, B]), rng.randrange(0, 20), rng.random()
        if op < 0.5:
            owed.add(p, offset)
            model[p][offset] += 1
        elif op < 0.97:
            owed.release(p, offset)
            if model[p][offset]:
                model[p][offset] -= 1
        else:
            owed.drop([p])
            model[p].clear()
        expected = {q: min(o for o, n in c.items() if n) for q, c in model.items() if +c}
        assert owed.lowest() == expected
        assert bool(owed) == bool(expected)
