from __future__ import annotations

import pytest

from tikstream.offsets import commit_offset, commit_offsets


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
