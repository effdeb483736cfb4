"""OCI distribution client: references, credentials, tags, manifests, creation times,
the tag-metadata cache and the scanner that fills it; `push` makes small test images.

Import from here; the modules' other names are theirs.
"""

from headwater.registry.auth import (
    Credentials,
    Keychain,
    from_pull_secret,
    load_docker_config,
    parse_docker_config,
)
from headwater.registry.cache import RepoEntry, TagCache, TagEntry
from headwater.registry.client import DEFAULT_INSECURE_HOSTS, Descriptor, Manifest, RegistryClient
from headwater.registry.errors import (
    AuthError,
    BlobTooLarge,
    InvalidCredentials,
    NoSuitableManifest,
    NotOnRegistry,
    RateLimited,
    RegistryError,
)
from headwater.registry.image import ImageInfo, ImageTimes
from headwater.registry.reference import InvalidReference, Reference, parse
from headwater.registry.scanner import FLUX_DEFAULT_EXCLUDE, RepoScan, Scanner

__all__ = [
    "DEFAULT_INSECURE_HOSTS",
    "FLUX_DEFAULT_EXCLUDE",
    "AuthError",
    "BlobTooLarge",
    "Credentials",
    "Descriptor",
    "ImageInfo",
    "ImageTimes",
    "InvalidCredentials",
    "InvalidReference",
    "Keychain",
    "Manifest",
    "NoSuitableManifest",
    "NotOnRegistry",
    "RateLimited",
    "Reference",
    "RegistryClient",
    "RegistryError",
    "RepoEntry",
    "RepoScan",
    "Scanner",
    "TagCache",
    "TagEntry",
    "from_pull_secret",
    "load_docker_config",
    "parse",
    "parse_docker_config",
]
