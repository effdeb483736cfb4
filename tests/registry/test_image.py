"""Creation times from config blobs, label precedence, platform choice: as Flux v1."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from headwater.registry.image import (
    ImageTimes,
    choose_platform,
    media_type,
    parse_rfc3339,
    times_from_config,
    times_from_schema1,
)
from headwater.registry.push import MANIFEST_LIST_V2, MANIFEST_V2, OCI_INDEX, OCI_MANIFEST
from tests.registry.helpers import T1, T2, T3


def _config(created: str | None = None, labels: dict[str, str] | None = None,
            where: str = "config") -> bytes:
    doc: dict[str, Any] = {"architecture": "amd64", "os": "linux"}
    if created is not None:
        doc["created"] = created
    if labels is not None:
        doc[where] = {"Labels": labels}
    return json.dumps(doc).encode()


@pytest.mark.parametrize(("blob", "created"), [
    (_config("2024-01-01T00:00:00Z"), T1),
    # The OCI label wins over `created`, then the label-schema one (Flux's
    # TimestampLabelWhitelist.apply: Labels.Created, then Labels.BuildDate).
    (_config("2024-01-01T00:00:00Z", {"org.opencontainers.image.created": "2024-02-02T00:00:00Z"}),
     T2),
    (_config("2024-01-01T00:00:00Z", {"org.label-schema.build-date": "2024-03-03T00:00:00Z"}), T3),
    (_config("2024-01-01T00:00:00Z", {"org.label-schema.build-date": "2024-03-03T00:00:00Z",
                                      "org.opencontainers.image.created": "2024-02-02T00:00:00Z"}),
     T2),
    # Flux reads labels from container_config too (the legacy Docker builder's copy).
    (_config("2024-01-01T00:00:00Z", {"org.opencontainers.image.created": "2024-02-02T00:00:00Z"},
             where="container_config"), T2),
    # A label that is not RFC 3339 is ignored, as Flux drops it with LabelTimestampFormatError.
    (_config("2024-01-01T00:00:00Z", {"org.opencontainers.image.created": "yesterday"}), T1),
    (_config("2024-01-01T00:00:00Z", {"org.opencontainers.image.created": "2024-02-02"}), T1),
    (_config(), None),
    (_config("0001-01-01T00:00:00Z"), None),  # Go's zero time: no creation time
    (b"not json", None),
    (b"[]", None),
])
def test_created_from_config_and_labels(blob: bytes, created: datetime | None) -> None:
    assert times_from_config(blob).created == created


def test_times_keeps_each_source() -> None:
    times = times_from_config(_config("2024-01-01T00:00:00Z", {
        "org.opencontainers.image.created": "2024-02-02T00:00:00Z",
        "org.label-schema.build-date": "2024-03-03T00:00:00Z"}))
    assert times == ImageTimes(T1, T2, T3)


def test_labels_key_is_matched_case_insensitively_like_go_json() -> None:
    blob = json.dumps({"created": "2024-01-01T00:00:00Z", "config": {
        "labels": {"org.label-schema.build-date": "2024-03-03T00:00:00Z"}}}).encode()
    assert times_from_config(blob).created == T3


def test_schema1_times_come_from_the_newest_history_entry() -> None:
    manifest = {"schemaVersion": 1, "history": [
        {"v1Compatibility": json.dumps({"created": "2024-02-02T00:00:00Z"})},
        {"v1Compatibility": json.dumps({"created": "2024-01-01T00:00:00Z"})}]}
    assert times_from_schema1(manifest).created == T2
    assert times_from_schema1({"schemaVersion": 1}).created is None


@pytest.mark.parametrize(("text", "expected"), [
    ("2024-01-02T03:04:05Z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ("2024-01-02t03:04:05z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ("2024-01-02T05:04:05+02:00", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ("2024-01-02T03:04:05.123456789Z", datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)),
    ("2024-01-02T03:04:05", None),  # no zone: not RFC 3339
    ("2024-01-02", None),
    ("2024-13-02T03:04:05Z", None),
    (20240102, None),
])
def test_parse_rfc3339(text: object, expected: datetime | None) -> None:
    assert parse_rfc3339(text) == expected


def _index(*platforms: tuple[str, str]) -> dict[str, Any]:
    return {"manifests": [{"digest": f"sha256:{i}", "platform": {"os": o, "architecture": a}}
                          for i, (o, a) in enumerate(platforms)]}


def test_choose_platform_takes_the_first_linux_amd64() -> None:
    index = _index(("linux", "arm64"), ("linux", "amd64"), ("linux", "amd64"))
    chosen = choose_platform(index)
    assert chosen is not None
    assert chosen["digest"] == "sha256:1"
    assert choose_platform(_index(("linux", "arm64"), ("windows", "amd64"))) is None
    assert choose_platform({"manifests": [{"digest": "sha256:x"}]}) is None


@pytest.mark.parametrize(("body", "content_type", "expected"), [
    ({}, MANIFEST_V2, MANIFEST_V2),
    ({}, OCI_INDEX + "; charset=utf-8", OCI_INDEX),
    ({"mediaType": MANIFEST_LIST_V2}, "application/json", MANIFEST_LIST_V2),
    ({"schemaVersion": 2, "manifests": []}, None, OCI_INDEX),
    ({"schemaVersion": 2, "config": {}}, None, OCI_MANIFEST),
    ({"schemaVersion": 1}, "application/json",
     "application/vnd.docker.distribution.manifest.v1+prettyjws"),
])
def test_media_type(body: dict[str, Any], content_type: str | None, expected: str) -> None:
    assert media_type(body, content_type) == expected
