"""The device agent (`yard agent`): runs on each machine of a fleet.

It keeps one WebSocket session to the server (:mod:`fleetyard.agent.session`,
a pure state machine, inside :mod:`fleetyard.agent.runner`), runs device
commands through handlers or the simulator, answers machine commands, and
serves a local telemetry API; everything it must not lose goes through a
SQLite outbox first. Only the SDK and the protocol are imported: a device
never pulls in the server stack.

Example (a handler module named in ``agent.toml``)::

    from fleetyard.agent import CommandFailed

    def set_closure(device, command, parameters):
        if not motor.ok():
            raise CommandFailed("device_error", "motor blocked")
        motor.move_to(parameters[0])
"""

from fleetyard.agent.simulator import CommandFailed

__all__ = ["CommandFailed"]
