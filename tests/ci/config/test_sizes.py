"""Sizes for flags such as --max-build-log-size: docker's units, binary multiples."""

from __future__ import annotations

import pytest

from headwater.ci.config.sizes import SizeError, parse_size


@pytest.mark.parametrize(("text", "expected"), [
    ("0", 0),
    ("1048576", 2**20),
    ("100MB", 100 * 2**20),
    ("100mb", 100 * 2**20),
    ("1MiB", 2**20),
    ("512k", 512 * 2**10),
    ("512KB", 512 * 2**10),
    ("1.5G", 3 * 2**29),
    ("2 GB", 2 * 2**30),
    ("10B", 10),
])
def test_a_size_is_read_in_bytes(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "MB", "-1MB", "10XB", "1e6", "ten"])
def test_a_bad_size_says_what_a_size_looks_like(text: str) -> None:
    with pytest.raises(SizeError, match="expected a number of bytes or a number with a unit"):
        parse_size(text)
