"""What a manifest and a config blob say about an image: pure functions on their JSON.

Creation time follows Flux v1. Its registry client (`pkg/registry/client.go`) takes
`created` from the config blob of a schema 2 manifest (from `history[0].v1Compatibility`
of a schema 1 one), and the timestamp labels `org.opencontainers.image.created` and
`org.label-schema.build-date` (`pkg/image/image.go`, `Labels`), parsed as RFC 3339; a
label that does not parse is ignored (Flux logs a `LabelTimestampFormatError` and keeps
the rest). Its cache (`pkg/registry/cache/registry.go`, `TimestampLabelWhitelist.apply`)
then lets the OCI label win, then the label-schema one, over `created`.
From an image index (or Docker manifest list) Flux reads the first manifest whose
platform is linux/amd64, and excludes the image when there is none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from headwater.registry.push import (
    MANIFEST_LIST_V2,
    MANIFEST_V2,
    OCI_INDEX,
    OCI_MANIFEST,
)

SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
INDEX_TYPES = frozenset({OCI_INDEX, MANIFEST_LIST_V2})
IMAGE_TYPES = frozenset({OCI_MANIFEST, MANIFEST_V2})
SCHEMA1_TYPES = frozenset({SCHEMA1_SIGNED, SCHEMA1})
# Preferred first: an index lets us choose the platform ourselves.
ACCEPT = ", ".join([OCI_INDEX, MANIFEST_LIST_V2, OCI_MANIFEST, MANIFEST_V2, SCHEMA1_SIGNED])

LABEL_OCI_CREATED = "org.opencontainers.image.created"
LABEL_SCHEMA_BUILD_DATE = "org.label-schema.build-date"

_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})")


@dataclass(frozen=True)
class ImageTimes:
    """The three creation times an image may carry; `created` is the one that counts."""

    config_created: datetime | None = None
    label_created: datetime | None = None
    label_build_date: datetime | None = None

    @property
    def created(self) -> datetime | None:
        return self.label_created or self.label_build_date or self.config_created


def parse_rfc3339(value: object) -> datetime | None:
    """An RFC 3339 time (as Go's `time.RFC3339` reads it) in UTC, or None. Go's zero
    time (`0001-01-01T00:00:00Z`, what images built without a date carry) is None."""
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        return None
    try:
        parsed = datetime.fromisoformat(value.upper())
    except ValueError:
        return None
    if parsed.year <= 1:
        return None
    return parsed.astimezone(UTC)


def media_type(body: Mapping[str, Any], content_type: str | None) -> str:
    """A manifest's media type: the response's Content-Type, else its `mediaType`, else
    guessed from its shape (OCI allows leaving `mediaType` out)."""
    declared = (content_type or "").split(";", 1)[0].strip()
    if declared in INDEX_TYPES | IMAGE_TYPES | SCHEMA1_TYPES:
        return declared
    if isinstance(body.get("mediaType"), str) and body["mediaType"]:
        return str(body["mediaType"])
    if body.get("schemaVersion") == 1:
        return SCHEMA1_SIGNED
    if "manifests" in body:
        return OCI_INDEX
    return OCI_MANIFEST


def choose_platform(
    index: Mapping[str, Any], *, os: str = "linux", architecture: str = "amd64"
) -> Mapping[str, Any] | None:
    """The first descriptor of `index` for `os`/`architecture`, as Flux picks one."""
    for entry in index.get("manifests") or []:
        platform = entry.get("platform") or {}
        if platform.get("os") == os and platform.get("architecture") == architecture:
            return dict(entry)
    return None


def _labels(section: Any) -> Mapping[str, Any]:
    # Go's JSON decoding matches field names case-insensitively: `Labels` or `labels`.
    if not isinstance(section, dict):
        return {}
    for key, value in section.items():
        if key.lower() == "labels" and isinstance(value, dict):
            return value
    return {}


def times_from_config(blob: bytes) -> ImageTimes:
    """The creation times in an image config blob (OCI or Docker)."""
    try:
        doc = json.loads(blob)
    except ValueError:
        return ImageTimes()
    if not isinstance(doc, dict):
        return ImageTimes()
    # Labels are read from `config` (every builder writes them there) and, as Flux
    # reads them, from `container_config` (the legacy Docker builder's copy).
    labels = {**_labels(doc.get("container_config")), **_labels(doc.get("config"))}
    return ImageTimes(
        config_created=parse_rfc3339(doc.get("created")),
        label_created=parse_rfc3339(labels.get(LABEL_OCI_CREATED)),
        label_build_date=parse_rfc3339(labels.get(LABEL_SCHEMA_BUILD_DATE)),
    )


def times_from_schema1(manifest: Mapping[str, Any]) -> ImageTimes:
    """The creation times of a schema 1 manifest, from its newest history entry."""
    history = manifest.get("history") or []
    if not history or not isinstance(history[0], dict):
        return ImageTimes()
    compat = history[0].get("v1Compatibility")
    if not isinstance(compat, str):
        return ImageTimes()
    return times_from_config(compat.encode())


@dataclass(frozen=True)
class ImageInfo:
    """The metadata of a tag that tag policies need."""

    digest: str
    media_type: str
    times: ImageTimes = field(default_factory=ImageTimes)
    excluded: str | None = None  # why the image is unusable here (no linux/amd64)

    @property
    def created(self) -> datetime | None:
        return self.times.created
