"""Two-factor authentication of the calling user: ``client.account.totp``."""

from __future__ import annotations

from typing import Unpack

from fleetyard.protocol.identity import TotpSetup, User
from fleetyard.sdk._operation import Operation
from fleetyard.sdk._types import WriteOptions
from fleetyard.sdk.resources._base import (
    AsyncAPIResource,
    SyncAPIResource,
    async_raw_method,
    raw_method,
)

__all__ = ["AsyncTotp", "AsyncTotpWithRawResponse", "Totp", "TotpWithRawResponse"]

_BASE = "/v1/account/totp"


def _setup() -> Operation[TotpSetup]:
    return Operation("POST", _BASE, TotpSetup)


def _confirm(code: str) -> Operation[User]:
    return Operation("POST", f"{_BASE}/confirm", User, json={"code": code})


def _disable() -> Operation[User]:
    return Operation("DELETE", _BASE, User)


class Totp(SyncAPIResource):
    """Turn TOTP two-factor login on (set up, then confirm with a code) or off.

    Example::

        setup = client.account.totp.setup()
        print(setup.otpauth_uri)  # show as a QR code
        client.account.totp.confirm("123456")
    """

    def setup(self, **options: Unpack[WriteOptions]) -> TotpSetup:
        """Start: a new secret and its ``otpauth://`` URI; not active until confirmed.

        Example::

            uri = client.account.totp.setup().otpauth_uri
        """
        return self._send(_setup(), options)

    def confirm(self, code: str, **options: Unpack[WriteOptions]) -> User:
        """Finish: prove the authenticator works with a current 6-digit code.

        Example::

            user = client.account.totp.confirm("123456")
            assert user.totp_enabled
        """
        return self._send(_confirm(code), options)

    def disable(self, **options: Unpack[WriteOptions]) -> User:
        """Turn two-factor login off.

        Example::

            client.account.totp.disable()
        """
        return self._send(_disable(), options)


class AsyncTotp(AsyncAPIResource):
    """Turn TOTP two-factor login on (set up, then confirm with a code) or off.

    Example::

        setup = await client.account.totp.setup()
        await client.account.totp.confirm("123456")
    """

    async def setup(self, **options: Unpack[WriteOptions]) -> TotpSetup:
        """Start: a new secret and its ``otpauth://`` URI; not active until confirmed.

        Example::

            uri = (await client.account.totp.setup()).otpauth_uri
        """
        return await self._send(_setup(), options)

    async def confirm(self, code: str, **options: Unpack[WriteOptions]) -> User:
        """Finish: prove the authenticator works with a current 6-digit code.

        Example::

            user = await client.account.totp.confirm("123456")
        """
        return await self._send(_confirm(code), options)

    async def disable(self, **options: Unpack[WriteOptions]) -> User:
        """Turn two-factor login off.

        Example::

            await client.account.totp.disable()
        """
        return await self._send(_disable(), options)


class TotpWithRawResponse:
    """``client.with_raw_response.account.totp``: answers are :class:`RawResponse`.

    Example::

        raw = client.with_raw_response.account.totp.setup()
    """

    def __init__(self, totp: Totp) -> None:
        self.setup = raw_method(totp.setup)
        self.confirm = raw_method(totp.confirm)
        self.disable = raw_method(totp.disable)


class AsyncTotpWithRawResponse:
    """``client.with_raw_response.account.totp`` of an :class:`~fleetyard.AsyncClient`.

    Example::

        raw = await client.with_raw_response.account.totp.disable()
    """

    def __init__(self, totp: AsyncTotp) -> None:
        self.setup = async_raw_method(totp.setup)
        self.confirm = async_raw_method(totp.confirm)
        self.disable = async_raw_method(totp.disable)
