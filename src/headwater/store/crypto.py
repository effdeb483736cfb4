"""Encryption of secret columns at rest, as Concourse's `--encryption-key`.

A key is a text of exactly 32 bytes (UTF-8), used as an AES-256-GCM key (Concourse
takes the flag's text as the key the same way; it also allows 16 bytes for AES-128,
headwater asks for 32). Each value is encrypted with a fresh random 96-bit nonce and
stored as text:

    enc:v1:<base64(nonce || ciphertext+tag)>

so a reader tells an encrypted value from a plain one by its prefix, and a database
can hold both while it is being encrypted. A plain text that happens to begin with
`enc:` is stored as `enc:raw:<text>` so it is never mistaken for ciphertext.

A `Keyring` holds the key values are written with (`primary`, None: written plain)
and the keys they may have been written with (`primary` and `--old-encryption-key`).
Reading tries each: AES-GCM's tag says which one is right. No key fits → `DecryptError`,
whose message says which flag to give.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from headwater.errors import HeadwaterError

KEY_BYTES = 32
NONCE_BYTES = 12
PREFIX = "enc:v1:"
RAW_PREFIX = "enc:raw:"


class EncryptionKeyError(HeadwaterError, ValueError):
    """An encryption key the user gave that cannot be used; the message says why."""


class DecryptError(HeadwaterError):
    """A stored value no given key opens: the message says what to give."""


def parse_key(text: str, *, flag: str = "--encryption-key") -> AESGCM:
    """An AES-256-GCM cipher from the flag's text (exactly 32 bytes)."""
    raw = text.encode()
    if len(raw) != KEY_BYTES:
        raise EncryptionKeyError(f"{flag} must be exactly {KEY_BYTES} bytes (AES-256), not "
                                 f"{len(raw)}: generate one with `openssl rand -hex 16`")
    return AESGCM(raw)


@dataclass(frozen=True)
class Keyring:
    primary: AESGCM | None = None  # what values are written with; None: plain
    old: tuple[AESGCM, ...] = ()  # also tried when reading

    @classmethod
    def of(cls, key: str | None, old_key: str | None = None) -> Keyring:
        primary = parse_key(key) if key else None
        old = (parse_key(old_key, flag="--old-encryption-key"),) if old_key else ()
        return cls(primary, old)

    @property
    def readers(self) -> tuple[AESGCM, ...]:
        return ((self.primary,) if self.primary else ()) + self.old

    def encode(self, text: str) -> str:
        """What is stored for `text`: encrypted with the primary key, else plain."""
        if self.primary is None:
            return RAW_PREFIX + text if text.startswith("enc:") else text
        nonce = os.urandom(NONCE_BYTES)
        sealed = self.primary.encrypt(nonce, text.encode(), None)
        return PREFIX + base64.b64encode(nonce + sealed).decode("ascii")

    def decode(self, stored: str) -> str:
        """The text of a stored value, plain or encrypted with any key of the ring."""
        if stored.startswith(RAW_PREFIX):
            return stored[len(RAW_PREFIX):]
        if not stored.startswith(PREFIX):
            return stored
        if not self.readers:
            raise DecryptError("the database holds encrypted values: start the server with "
                               "--encryption-key (or HEADWATER_ENCRYPTION_KEY)")
        try:
            blob = base64.b64decode(stored[len(PREFIX):], validate=True)
        except ValueError as e:
            raise DecryptError(f"an encrypted value is damaged (not base64): {e}") from None
        nonce, sealed = blob[:NONCE_BYTES], blob[NONCE_BYTES:]
        for cipher in self.readers:
            try:
                return cipher.decrypt(nonce, sealed, None).decode()
            except (InvalidTag, ValueError):  # another key's value, or a damaged one
                continue
        raise DecryptError("no encryption key given opens the database's encrypted values: "
                           "check --encryption-key (to change keys, pass the previous one "
                           "as --old-encryption-key)")
