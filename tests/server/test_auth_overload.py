"""A database pool that stays exhausted makes authentication "overloaded", not a crash."""

from __future__ import annotations

import pytest
from sqlalchemy import exc as sa_exc

from fleetyard.protocol.errors import ErrorCode
from fleetyard.server.services import auth
from fleetyard.server.services.errors import Overloaded
from fleetyard.server.storage.database import Database
from tests.conftest import ADMIN_KEY

pytestmark = pytest.mark.anyio


async def test_pool_timeout_is_overloaded_with_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    async def pool_exhausted(database: Database, secret: str) -> auth.Principal:
        raise sa_exc.TimeoutError("QueuePool limit of size 10 overflow 20 reached")

    monkeypatch.setattr(auth, "_by_api_key", pool_exhausted)
    with pytest.raises(Overloaded) as raised:
        await auth.authenticate(Database("sqlite:///:memory:"), ADMIN_KEY)
    assert raised.value.status == 503
    assert raised.value.code is ErrorCode.OVERLOADED
    assert raised.value.headers == {"Retry-After": "1"}
