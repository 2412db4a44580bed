"""FastAPI dependencies shared by every route module."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from fleetyard.server.state import AppState
from fleetyard.server.storage.database import Database


def get_state(request: Request) -> AppState:
    state = request.app.state.fleetyard
    assert isinstance(state, AppState)
    return state


def get_database(request: Request) -> Database:
    return get_state(request).database


# Async on purpose: FastAPI runs a plain ``def`` dependency in a worker thread, a
# thread hop per request for what is an attribute lookup.
async def _state(request: Request) -> AppState:
    return get_state(request)


async def _database(request: Request) -> Database:
    return get_state(request).database


State = Annotated[AppState, Depends(_state)]
DB = Annotated[Database, Depends(_database)]
