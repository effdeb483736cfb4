"""Byte sizes of flags (`--resource-image-max-layer 2GiB`): units and clear errors."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from headwater.cli.app import app
from headwater.sizes import parse_size


@pytest.mark.parametrize(("text", "size"), [
    ("4096", 4096),
    ("0", 0),
    ("10b", 10),
    ("64k", 64 * 1024),
    ("512MiB", 512 * 1024 ** 2),
    ("2GiB", 2 * 1024 ** 3),
    ("2gib", 2 * 1024 ** 3),
    ("8g", 8 * 1024 ** 3),
    ("1TiB", 1024 ** 4),
    ("100MB", 100 * 1000 ** 2),
    ("3 GB", 3 * 1000 ** 3),
])
def test_sizes_take_binary_and_decimal_units(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "GiB", "1.5GiB", "-1", "2 GiBs", "10 parsecs"])
def test_a_bad_size_says_what_a_size_looks_like(text: str) -> None:
    with pytest.raises(ValueError, match=r"invalid size .*such as 2GiB, 512MiB"):
        parse_size(text)


def test_the_server_refuses_a_bad_image_limit_before_starting(tmp_path: object) -> None:
    result = CliRunner().invoke(app, ["server", "--data-dir", str(tmp_path),
                                      "--resource-image-max-layer", "lots"])
    assert result.exit_code == 2
    assert "invalid size 'lots'" in result.output
