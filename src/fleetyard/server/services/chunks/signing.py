"""Signed links to the server's own chunk routes (the filesystem blob store).

A link names the method, the chunk, the site, the size (empty for downloads)
and an expiry (seconds since the epoch); the signature is HMAC-SHA256 over
``"METHOD\\nhash\\nsite\\nsize\\nexp"`` with the server's secret key. Changing
any part invalidates it (403 ``signature_invalid``); a correct link past its
expiry is 403 ``url_expired``. Links carry no bearer token: the signature is
the authorisation, and it is bound to one site and one chunk.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlencode

from fleetyard.protocol.errors import ErrorCode
from fleetyard.server.services.errors import ServiceError

UPLOAD_PATH = "/v1/chunk-uploads/"
DOWNLOAD_PATH = "/v1/chunk-downloads/"


class LinkRejected(ServiceError):
    """403: a signed link that is tampered with or past its expiry."""

    status, code, title = 403, ErrorCode.SIGNATURE_INVALID, "Link rejected"


def signature(
    secret: str, *, method: str, hash: str, site_id: str, size: int | None, exp: int
) -> str:
    message = "\n".join((method, hash, site_id, "" if size is None else str(size), str(exp)))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def upload_url(base_url: str, secret: str, *, hash: str, site_id: str, size: int, exp: int) -> str:
    sig = signature(secret, method="PUT", hash=hash, site_id=site_id, size=size, exp=exp)
    query = urlencode({"site": site_id, "size": size, "exp": exp, "sig": sig})
    return f"{base_url.rstrip('/')}{UPLOAD_PATH}{hash}?{query}"


def download_url(base_url: str, secret: str, *, hash: str, site_id: str, exp: int) -> str:
    sig = signature(secret, method="GET", hash=hash, site_id=site_id, size=None, exp=exp)
    query = urlencode({"site": site_id, "exp": exp, "sig": sig})
    return f"{base_url.rstrip('/')}{DOWNLOAD_PATH}{hash}?{query}"


def verify(
    secret: str,
    *,
    method: str,
    hash: str,
    site_id: str,
    size: int | None,
    exp: int,
    sig: str,
    now: float | None = None,
) -> None:
    """Raise 403 ``signature_invalid`` or ``url_expired`` unless the link is good now.

    The signature is checked first: an expiry someone edited is a bad signature,
    not an expired link.
    """
    expected = signature(secret, method=method, hash=hash, site_id=site_id, size=size, exp=exp)
    if not hmac.compare_digest(expected, sig):
        raise LinkRejected(
            "The link's signature does not match; ask for a new link.",
            code=ErrorCode.SIGNATURE_INVALID,
        )
    if exp < (time.time() if now is None else now):
        raise LinkRejected(
            "The link has expired; ask for a new one.", code=ErrorCode.URL_EXPIRED, expired_at=exp
        )
