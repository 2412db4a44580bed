"""What a client authenticates with, and when that needs renewing. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from fleetyard.protocol.identity import TokenResponse
from fleetyard.sdk._config import Settings
from fleetyard.sdk._operation import Operation

__all__ = ["RENEW_MARGIN", "Credentials"]

RENEW_MARGIN = timedelta(seconds=30)
"""Renew an access token this long before it expires, so it never expires in flight."""


@dataclass(slots=True)
class Credentials:
    """One of: an API key; access (+ refresh) tokens; client credentials (+ the tokens they got)."""

    api_key: str | None = None
    access_token: str | None = None
    expires_at: datetime | None = None
    refresh_token: str | None = None
    client_id: str | None = None
    client_secret: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Credentials:
        return cls(
            api_key=settings.api_key,
            access_token=settings.access_token,
            expires_at=settings.access_expires_at,
            refresh_token=settings.refresh_token,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
        )

    @property
    def kind(self) -> str:
        """``api_key``, ``client_credentials``, ``token`` or ``none`` (for reprs, never secrets)."""
        if self.api_key:
            return "api_key"
        if self.client_id:
            return "client_credentials"
        if self.access_token or self.refresh_token:
            return "token"
        return "none"

    def bearer(self) -> str | None:
        """The value for ``Authorization: Bearer``, if any."""
        return self.api_key or self.access_token

    def can_renew(self) -> bool:
        return self.api_key is None and bool(
            self.refresh_token or (self.client_id and self.client_secret)
        )

    def needs_renewal(self, now: datetime) -> bool:
        """Whether to renew before the next call: no token yet, or one about to expire."""
        if not self.can_renew():
            return False
        if self.access_token is None:
            return True
        return self.expires_at is not None and now >= self.expires_at - RENEW_MARGIN

    def renewal(self) -> Operation[TokenResponse] | None:
        """The call that renews the access token: a refresh, else a client-credentials grant."""
        if self.api_key is not None:
            return None
        if self.refresh_token:
            return Operation(
                "POST",
                "/v1/auth/refresh",
                TokenResponse,
                json={"refresh_token": self.refresh_token},
                auth="none",
            )
        if self.client_id and self.client_secret:
            return client_credentials_operation(self.client_id, self.client_secret)
        return None

    def logout(self) -> Operation[None] | None:
        """The call that ends the login: revoke the current refresh token."""
        if not self.refresh_token:
            return None
        return Operation(
            "POST",
            "/v1/auth/logout",
            type(None),
            json={"refresh_token": self.refresh_token},
            # Send the bearer but never renew inside the call: renewing rotates the
            # refresh token, and the body would then name a spent one.
            auth="passive",
        )

    def adopt(
        self,
        tokens: TokenResponse,
        now: datetime,
        *,
        client: tuple[str, str] | None = None,
        replace: bool = False,
    ) -> None:
        """Use new tokens.

        ``replace`` (a login or a grant) drops what was there before (an API
        key, other client credentials); a renewal keeps the refresh token when
        the answer has no new one.
        """
        if replace:
            self.api_key = None
            self.refresh_token = None
            self.client_id, self.client_secret = client if client else (None, None)
        self.access_token = tokens.access_token
        # Measured on our clock, not the server's: immune to clock skew between the two.
        self.expires_at = now + timedelta(seconds=tokens.expires_in)
        if tokens.refresh_token:
            self.refresh_token = tokens.refresh_token

    def forget_tokens(self) -> None:
        """Drop access and refresh tokens (after a logout)."""
        self.access_token = None
        self.expires_at = None
        self.refresh_token = None


def client_credentials_operation(client_id: str, client_secret: str) -> Operation[TokenResponse]:
    """``POST /v1/auth/token`` with ``grant_type=client_credentials``."""
    return Operation(
        "POST",
        "/v1/auth/token",
        TokenResponse,
        json={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
        },
        auth="none",
    )
