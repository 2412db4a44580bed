"""Building action groups from what callers write: models, dicts, or ``action(...)``.

Pure functions, no I/O: ``client.executions``, ``client.action_groups`` and
the action queues share them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

from pydantic import JsonValue

from fleetyard.protocol.executions import Action, ActionGroup, Command, ExecutionMode

__all__ = [
    "ActionLike",
    "CommandLike",
    "action",
    "group_body",
    "merge_actions",
    "to_action",
    "to_actions",
]

CommandLike: TypeAlias = Command | str | tuple[Any, ...] | Mapping[str, Any]
"""A command: a :class:`Command`, a name (``"open"``), a ``(name, *parameters)`` tuple
(``("setClosure", 50)``) or a dict ``{"name": …, "parameters": […]}``."""

ActionLike: TypeAlias = Action | Mapping[str, Any]
"""An action: an :class:`Action` or a dict ``{"device_url": …, "commands": […]}``."""


def to_command(value: CommandLike) -> Command:
    """A :class:`Command` from any :data:`CommandLike`.

    >>> to_command(("setClosure", 50))
    Command(name='setClosure', parameters=[50])
    """
    if isinstance(value, Command):
        return value
    if isinstance(value, str):
        return Command(name=value)
    if isinstance(value, tuple):
        if not value or not isinstance(value[0], str):
            raise TypeError(f"a command tuple is (name, *parameters), got {value!r}")
        return Command(name=value[0], parameters=list(value[1:]))
    if isinstance(value, Mapping):
        return Command.model_validate(dict(value))
    raise TypeError(f"not a command: {value!r}")


def action(device_url: str, *commands: CommandLike) -> Action:
    """One device's commands, run in order: a shorthand for :class:`Action`.

    Example::

        from fleetyard.sdk import action

        client.executions.execute(
            actions=[action("io://1234-5678-3293/3541212", ("setClosure", 50))]
        )

    >>> action("io://1234-5678-3293/3541212", "open").commands[0].name
    'open'
    """
    if not commands:
        raise ValueError("an action needs at least one command")
    return Action(device_url=device_url, commands=[to_command(c) for c in commands])


def to_action(value: ActionLike) -> Action:
    """An :class:`Action` from a model or a dict (commands in dicts may be any CommandLike)."""
    if isinstance(value, Action):
        return value
    if isinstance(value, Mapping):
        data = dict(value)
        commands = data.get("commands")
        if isinstance(commands, list | tuple):
            data["commands"] = [to_command(c) for c in commands]
        return Action.model_validate(data)
    raise TypeError(f"an action is an Action or a dict, got {type(value).__name__}")


def to_actions(values: ActionLike | Iterable[ActionLike]) -> list[Action]:
    """A list of actions from one action or an iterable of them."""
    if isinstance(values, Action | Mapping):
        return [to_action(values)]
    if isinstance(values, str | bytes):
        raise TypeError("actions must be Action models or dicts, not a string")
    return [to_action(v) for v in values]


def merge_actions(actions: Iterable[Action]) -> list[Action]:
    """One action per device: a device's later commands are appended to its first action.

    The server refuses two actions on one device (``duplicate_action_on_device``).

    >>> merged = merge_actions([action("io://g/1", "open"), action("io://g/1", "close")])
    >>> [c.name for c in merged[0].commands]
    ['open', 'close']
    """
    by_url: dict[str, list[Command]] = {}
    for item in actions:
        by_url.setdefault(item.device_url, []).extend(item.commands)
    return [Action(device_url=url, commands=commands) for url, commands in by_url.items()]


def group_body(
    group: ActionGroup | None,
    actions: ActionLike | Iterable[ActionLike] | None,
    label: str | None,
    mode: ExecutionMode | str | None,
    **extra: JsonValue,
) -> dict[str, Any]:
    """The JSON of an action group from a model and/or keywords (keywords win).

    ``extra`` members whose value is ``None`` are left out.
    """
    if group is not None and actions is not None:
        raise TypeError("give an action group or actions=, not both")
    body: dict[str, Any] = {}
    if group is not None:
        body = group.model_dump(mode="json", exclude_none=True)
    elif actions is None:
        raise TypeError("give the actions to run (actions=[...]) or an ActionGroup")
    else:
        body["actions"] = [a.model_dump(mode="json") for a in to_actions(actions)]
    if label is not None:
        body["label"] = label
    if mode is not None:
        body["mode"] = ExecutionMode(mode).value
    body.update({key: value for key, value in extra.items() if value is not None})
    return body
