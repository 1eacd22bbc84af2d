"""The local control plane's throw-away keys and certificates, made with openssl in its run folder.

- the service-account signing key;
- a client CA, which no client uses (every client has the admin token), so that the API server publishes one and
  the components that read it (the scheduler, metrics-server) find it;
- the front proxy's CA and client certificate, with which the API server's aggregation layer tells an extension
  API server (metrics-server) who is asking: the API server's --requestheader-* and --proxy-client-* flags, as
  kwokctl and kubeadm set them.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

# The name the API server's client certificate carries, and the only one the extension API server accepts.
FRONT_PROXY_CLIENT = "front-proxy-client"
DAYS = "2"


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def service_account_key(pki: Path) -> Path:
    key = pki / "service-account.key"
    if not key.exists():
        _openssl("genrsa", "-out", str(key), "2048")
    return key


def client_ca(pki: Path) -> Path:
    ca, key = pki / "client-ca.crt", pki / "client-ca.key"
    if not ca.exists():
        _self_signed_ca("client-ca", key, ca)
    return ca


def _self_signed_ca(name: str, key: Path, cert: Path) -> None:
    request = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", DAYS, "-subj", f"/CN={name}"]
    _openssl(*request, "-keyout", str(key), "-out", str(cert))


@dataclass(frozen=True)
class FrontProxy:
    ca: Path
    client_cert: Path
    client_key: Path


def front_proxy(pki: Path) -> FrontProxy:
    """A CA of its own and a client certificate it signed (CN front-proxy-client)."""
    ca, ca_key = pki / "front-proxy-ca.crt", pki / "front-proxy-ca.key"
    cert, key, request = pki / "front-proxy-client.crt", pki / "front-proxy-client.key", pki / "front-proxy-client.csr"
    if not cert.exists():
        _self_signed_ca("front-proxy-ca", ca_key, ca)
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            f"/CN={FRONT_PROXY_CLIENT}",
            "-keyout",
            str(key),
            "-out",
            str(request),
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            str(request),
            "-CA",
            str(ca),
            "-CAkey",
            str(ca_key),
            "-CAcreateserial",
            "-days",
            DAYS,
            "-out",
            str(cert),
        )
    return FrontProxy(ca, cert, key)


def front_proxy_flags(proxy: FrontProxy) -> list[str]:
    """The API server's flags that make it the front proxy of its aggregated APIs."""
    return [
        f"--requestheader-client-ca-file={proxy.ca}",
        f"--requestheader-allowed-names={FRONT_PROXY_CLIENT}",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={proxy.client_cert}",
        f"--proxy-client-key-file={proxy.client_key}",
    ]
