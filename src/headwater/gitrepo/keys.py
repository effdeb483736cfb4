"""ed25519 deploy keys in OpenSSH format, as `ssh-keygen -t ed25519` writes them."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519


def ensure_ed25519(path: Path, comment: str) -> str:
    """Create `path` (0600) and `path`.pub unless both exist; return the public key line."""
    pub = path.with_name(path.name + ".pub")
    if not (path.exists() and pub.exists()):
        key = ed25519.Ed25519PrivateKey.generate()
        private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        public = key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(private)
        os.chmod(path, 0o600)
        pub.write_text(f"{public.decode()} {comment}\n")
    return pub.read_text().strip()
