"""Logging in and out, and getting tokens: ``client.auth``.

The client adopts the tokens these calls return: after ``login`` it calls
the API as that user and renews the access token by itself.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Unpack

from fleetyard.protocol.identity import TokenResponse
from fleetyard.sdk._base_client import BaseClient
from fleetyard.sdk._credentials import client_credentials_operation
from fleetyard.sdk._operation import Operation
from fleetyard.sdk._types import ReadOptions, WriteOptions
from fleetyard.sdk.resources._base import (
    AsyncAPIResource,
    SyncAPIResource,
    async_raw_method,
    raw_method,
)

__all__ = ["AsyncAuth", "AsyncAuthWithRawResponse", "Auth", "AuthWithRawResponse"]


def _login(
    client: BaseClient, email: str, password: str, totp: str | None
) -> Operation[TokenResponse]:
    body: dict[str, Any] = {"email": email, "password": password}
    if totp is not None:
        body["totp"] = totp
    return Operation(
        "POST",
        "/v1/auth/login",
        TokenResponse,
        json=body,
        auth="none",
        on_result=lambda tokens: client._adopt(tokens, replace=True),
    )


def _client_credentials(
    client: BaseClient, client_id: str, client_secret: str
) -> Operation[TokenResponse]:
    return dataclasses.replace(
        client_credentials_operation(client_id, client_secret),
        on_result=lambda tokens: client._adopt(
            tokens, client=(client_id, client_secret), replace=True
        ),
    )


class Auth(SyncAPIResource):
    """Password login (with TOTP), token refresh, logout, client-credentials grant.

    Example::

        client = fleetyard.Client(base_url="https://yard.example")
        client.auth.login("ada@example.com", "correct horse", totp="123456")
        print(client.account.whoami().user.email)
    """

    def login(
        self,
        email: str,
        password: str,
        *,
        totp: str | None = None,
        **options: Unpack[WriteOptions],
    ) -> TokenResponse:
        """Log in as a user; the client then uses (and renews) the tokens returned.

        Example::

            tokens = client.auth.login("ada@example.com", "correct horse")
            save(tokens.refresh_token)
        """
        return self._send(_login(self._client, email, password, totp), options)

    def refresh(self, **options: Unpack[ReadOptions]) -> TokenResponse:
        """Trade the refresh token for new tokens now (the client also does this by itself).

        Example::

            tokens = client.auth.refresh()
        """
        return self._run(self._client._refresh(options))

    def logout(self, **options: Unpack[WriteOptions]) -> None:
        """End the session: the server revokes the refresh token, the client forgets its tokens.

        Example::

            client.auth.logout()
        """
        return self._run(self._client._logout(options))

    def client_credentials(
        self, client_id: str, client_secret: str, **options: Unpack[WriteOptions]
    ) -> TokenResponse:
        """Get tokens for a service client; the client then uses them, fetching new ones on expiry.

        Example::

            client.auth.client_credentials("cli_01…", secret)
        """
        return self._send(_client_credentials(self._client, client_id, client_secret), options)


class AsyncAuth(AsyncAPIResource):
    """Password login (with TOTP), token refresh, logout, client-credentials grant.

    Example::

        await client.auth.login("ada@example.com", "correct horse")
    """

    async def login(
        self,
        email: str,
        password: str,
        *,
        totp: str | None = None,
        **options: Unpack[WriteOptions],
    ) -> TokenResponse:
        """Log in as a user; the client then uses (and renews) the tokens returned.

        Example::

            tokens = await client.auth.login("ada@example.com", "correct horse")
        """
        return await self._send(_login(self._client, email, password, totp), options)

    async def refresh(self, **options: Unpack[ReadOptions]) -> TokenResponse:
        """Trade the refresh token for new tokens now (the client also does this by itself).

        Example::

            tokens = await client.auth.refresh()
        """
        return await self._run(self._client._refresh(options))

    async def logout(self, **options: Unpack[WriteOptions]) -> None:
        """End the session: the server revokes the refresh token, the client forgets its tokens.

        Example::

            await client.auth.logout()
        """
        return await self._run(self._client._logout(options))

    async def client_credentials(
        self, client_id: str, client_secret: str, **options: Unpack[WriteOptions]
    ) -> TokenResponse:
        """Get tokens for a service client; the client then uses them, fetching new ones on expiry.

        Example::

            await client.auth.client_credentials("cli_01…", secret)
        """
        return await self._send(
            _client_credentials(self._client, client_id, client_secret), options
        )


class AuthWithRawResponse:
    """``client.with_raw_response.auth``: answers are :class:`RawResponse`.

    Example::

        raw = client.with_raw_response.auth.login("ada@example.com", "correct horse")
        print(raw.status_code, raw.parse().expires_at)
    """

    def __init__(self, auth: Auth) -> None:
        self.login = raw_method(auth.login)
        self.refresh = raw_method(auth.refresh)
        self.logout = raw_method(auth.logout)
        self.client_credentials = raw_method(auth.client_credentials)


class AsyncAuthWithRawResponse:
    """``client.with_raw_response.auth`` of an :class:`~fleetyard.AsyncClient`.

    Example::

        raw = await client.with_raw_response.auth.refresh()
    """

    def __init__(self, auth: AsyncAuth) -> None:
        self.login = async_raw_method(auth.login)
        self.refresh = async_raw_method(auth.refresh)
        self.logout = async_raw_method(auth.logout)
        self.client_credentials = async_raw_method(auth.client_credentials)
