"""Byte sizes of flags (`--max-build-log-size 100MB`, `--resource-image-max-layer 2GiB`):
Docker's units, binary multiples, and clear errors."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from headwater.cli.app import app
from headwater.sizes import SizeError, parse_size


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
    ("2GiB", 2 * 2**30),
    ("8g", 8 * 2**30),
    ("1TiB", 2**40),
])
def test_a_size_is_read_in_bytes(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "MB", "-1MB", "10XB", "1e6", "ten"])
def test_a_bad_size_says_what_a_size_looks_like(text: str) -> None:
    with pytest.raises(SizeError, match="expected a number of bytes or a number with a unit"):
        parse_size(text)


def test_the_server_refuses_a_bad_image_limit_before_starting(tmp_path: object) -> None:
    result = CliRunner().invoke(app, ["server", "--data-dir", str(tmp_path),
                                      "--resource-image-max-layer", "lots"])
    assert result.exit_code == 2
    assert '--resource-image-max-layer: invalid size "lots"' in result.output
