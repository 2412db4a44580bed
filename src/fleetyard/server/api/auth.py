"""Authentication and scope checks as FastAPI dependencies.

Every ``/v1`` route except ``/v1/system/info`` and the token endpoints
(``/v1/auth/login``, ``/v1/auth/refresh``, ``/v1/auth/token``) takes either
:data:`Authenticated` (any valid caller) or ``Depends(require(...))``::

    @router.get("/v1/sites/{site_id}")
    async def get_site(
        site_id: str,
        principal: Annotated[Principal, Depends(require("site", "read", "site_id"))],
    ) -> Site: ...

Dependencies run before the body and the parameters are validated, so a
caller without a token gets 401 and one without the scope 403, whatever it
sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from fleetyard.protocol.scopes import Scope
from fleetyard.server.api.deps import State
from fleetyard.server.services import auth
from fleetyard.server.services.auth import Principal

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API key (`fy_live_…`, `fy_test_…`) or an access token (`fya_…`).",
)


async def authenticate(
    request: Request,
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller behind ``Authorization: Bearer …``, or 401."""
    if credentials is None:
        raise auth.missing_credentials()
    principal = await auth.authenticate(state.database, credentials.credentials)
    # Kept on the request for logs and middleware that want to know the caller.
    request.state.principal = principal
    return principal


Authenticated = Annotated[Principal, Depends(authenticate)]
"""Any authenticated caller, whatever its scopes."""


async def authenticate_cached(
    request: Request,
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """:func:`authenticate` answered from a few seconds of memory, for the publish routes.

    See :mod:`fleetyard.server.services.auth_cache` for what that means for revocation.
    """
    if credentials is None:
        raise auth.missing_credentials()
    principal = await state.principals.authenticate(state.database, credentials.credentials)
    request.state.principal = principal
    return principal


AuthenticatedCached = Annotated[Principal, Depends(authenticate_cached)]
"""Any authenticated caller, possibly remembered for ``auth_cache_seconds`` (hot routes)."""


def require(
    resource: str, permission: str, id_param: str | None = None
) -> Callable[..., Awaitable[Principal]]:
    """A dependency that demands ``resource:<id>:permission`` and returns the principal.

    ``id_param`` names the path parameter holding the resource's id; without
    it the scope's id is ``*`` (the route acts on the whole collection).
    Missing scope → 403 ``scope_insufficient`` naming the scope.
    """

    async def dependency(request: Request, principal: Authenticated) -> Principal:
        target = "*" if id_param is None else str(request.path_params.get(id_param, "*"))
        wanted = Scope(resource, target, permission)
        if not principal.grants(wanted):
            raise auth.insufficient([wanted])
        return principal

    dependency.__name__ = f"require_{resource}_{permission}"
    return dependency
