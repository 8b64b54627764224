"""A run's process gives freed memory back (orchestration/memory.py)."""

import sys

import pytest

from orchestration.definitions import defs
from orchestration.memory import return_large_blocks, trim_heap, trim_heap_after_step

glibc_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")


@glibc_only
def test_glibc_takes_the_fixed_threshold() -> None:
    assert return_large_blocks() is True


@glibc_only
def test_freed_small_blocks_inside_the_heap_are_given_back() -> None:
    blocks = [bytearray(100_000) for _ in range(5000)]  # 500 MB in blocks below the threshold
    kept = blocks[::50]  # every fiftieth stays: the heap's free pages lie between them
    del blocks
    assert trim_heap() is True
    assert len(kept) == 100


def test_the_job_whose_steps_share_a_process_trims_after_each() -> None:
    assert trim_heap_after_step in defs.resolve_job_def("train_and_forecast").hook_defs
