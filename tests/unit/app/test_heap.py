"""Tests for app.heap: the allocator keeps freed body-sized memory, or nothing changes."""

from __future__ import annotations

import ctypes
import sys

import pytest

from app import heap


def test_thresholds_are_accepted_by_glibc() -> None:
    try:
        ctypes.CDLL(None).gnu_get_libc_version  # noqa: B018 -- glibc only
    except AttributeError:
        pytest.skip("not glibc")
    assert heap.keep_freed_memory() is True


def test_other_platforms_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert heap.keep_freed_memory() is False


def test_a_c_library_without_the_settings_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    class NotGlibc:
        def __init__(self, _name: object) -> None:
            pass

        def __getattr__(self, name: str) -> object:
            raise AttributeError(name)

    monkeypatch.setattr(ctypes, "CDLL", NotGlibc)
    assert heap.keep_freed_memory() is False


def test_every_capped_body_fits_below_the_mapping_threshold() -> None:
    from app.proxy.forward import MAX_RESPONSE_BYTES

    assert heap.HEAP_ALLOCATION_MAX_BYTES > MAX_RESPONSE_BYTES
    assert heap.RETAINED_BYTES >= 2 * MAX_RESPONSE_BYTES
