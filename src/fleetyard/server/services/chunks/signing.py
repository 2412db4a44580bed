"""Signed links to the server's own chunk routes (the filesystem blob store).

A link names the method, the chunk, the site, the size (empty for downloads)
and an expiry (seconds since the epoch); the signature is HMAC-SHA256 over
``"METHOD\\nhash\\nsite\\nsize\\nexp"`` with the server's secret key. Changing
any part invalidates it (403 ``signature_invalid``); a correct link past its
expiry is 403 ``url_expired``. Links carry no bearer token: the signature is
the authorisation, and it is bound to one site and one chunk.

A multi-chunk upload link (``PUT /v1/chunk-uploads?site=&list=&bytes=&exp=&sig=``)
is signed the same way with the method ``PUT-BATCH``, the list digest in place of
the hash and the total of the chunk sizes in place of the size; the list digest
is the SHA-256 of ``"hash:size\n"`` for each chunk in upload order, so the link
accepts exactly that list.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable
from urllib.parse import urlencode

from fleetyard.protocol.errors import ErrorCode
from fleetyard.server.services.errors import ServiceError

UPLOAD_PATH = "/v1/chunk-uploads/"
BATCH_PATH = "/v1/chunk-uploads"
BATCH_METHOD = "PUT-BATCH"
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


def list_digest(chunks: Iterable[tuple[str, int]]) -> str:
    """The digest a multi-chunk link signs: SHA-256 of ``hash:size\n`` per chunk.

    >>> list_digest([]) == hashlib.sha256(b"").hexdigest()
    True
    """
    digest = hashlib.sha256()
    for h, size in chunks:
        digest.update(f"{h}:{size}\n".encode())
    return digest.hexdigest()


def batch_url(
    base_url: str, secret: str, *, chunks: list[tuple[str, int]], site_id: str, exp: int
) -> str:
    listed = list_digest(chunks)
    total = sum(size for _, size in chunks)
    sig = signature(secret, method=BATCH_METHOD, hash=listed, site_id=site_id, size=total, exp=exp)
    query = urlencode({"site": site_id, "list": listed, "bytes": total, "exp": exp, "sig": sig})
    return f"{base_url.rstrip('/')}{BATCH_PATH}?{query}"


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
