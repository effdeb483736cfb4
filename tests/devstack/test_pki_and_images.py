"""Certificates and the sandbox image are built right, and reproducibly."""

from __future__ import annotations

import stat
from pathlib import Path

from cryptography import x509

from headwater.devstack.pki import CA
from headwater.registry import push


def test_certificates_are_signed_by_the_ca_with_their_names_and_private_keys_0600(
    tmp_path: Path,
) -> None:
    ca = CA(tmp_path)
    crt, key = ca.issue("apiserver", cn="kube-apiserver", server=True,
                        hosts=("127.0.0.1", "localhost"))
    cert = x509.load_pem_x509_certificate(crt.read_bytes())
    cert.verify_directly_issued_by(ca.cert)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
    for secret in (key, ca.key_path):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    # Issued once: a second call keeps the same certificate (kubeconfigs stay valid).
    assert ca.issue("apiserver", cn="other")[0].read_bytes() == crt.read_bytes()
    assert CA(tmp_path).cert == ca.cert


def test_the_same_files_make_the_same_layer_digest(tmp_path: Path) -> None:
    f = tmp_path / "busybox"
    f.write_bytes(b"\x7fELF pretend")
    one, diff_one = push.layer({"bin/busybox": f}, {"bin/sleep": "busybox"})
    two, diff_two = push.layer({"bin/busybox": f}, {"bin/sleep": "busybox"})
    assert (one.digest, diff_one) == (two.digest, diff_two)
    assert one.digest != diff_one  # compressed blob vs uncompressed tar
