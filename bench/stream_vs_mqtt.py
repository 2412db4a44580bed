"""Publish → subscriber latency, Fleetyard next to Mosquitto, in one run.

First the experiment of ``bench/stream_latency.py`` (a fresh ``yard serve``,
N WebSocket subscribers on one channel, HTTP publishes at a fixed rate), then
the same against Mosquitto (Debian package ``mosquitto``): a private broker
this bench starts on a free port with a minimal configuration (anonymous, no
persistence, ``set_tcp_nodelay true`` as asyncio sets for ``yard serve``), or
with ``--mqtt-port`` the broker already listening there. N MQTT connections
(paho-mqtt, all of a process's clients driven by one asyncio loop, payloads
scanned not parsed) in the same number of subscriber processes, subscribed to
one topic, and this process publishing the same payloads at the same rate,
once with QoS 0 and once with QoS 1 (``--qos``). Latency is the same: the wall
clock stamped into the payload just before the publish → the message handed
to the subscriber. Prints both side by side, and the broker's CPU time per
delivery for each (``/proc``).

Not the same work: a Fleetyard publish is answered after the message is
committed to the database and carries a sequence number and timestamp in a
JSON envelope; Mosquitto relays bytes from memory (QoS 1 adds acknowledgements
each way). If Mosquitto is not installed (or no broker answers on
``--mqtt-port``), the bench says why and exits 0.

Run: ``.venv/bin/python bench/stream_vs_mqtt.py [--subscribers 1000] [--messages 200]
[--rate 20] [--processes 2] [--pad 0] [--qos 0,1] [--mqtt-port 1883] [--skip-fleetyard]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stream_latency import (
    Result,
    arguments,
    fan_out,
    free_port,
    payload,
    percentile,
    run_fleetyard,
)

TOPIC = "fleetyard-bench/latency"


def mqtt_subscriber_process(
    host: str, port: int, topic: str, qos: int, count: int, expected: int, ready: Any, results: Any
) -> None:
    results.put(asyncio.run(_mqtt_subscribers(host, port, topic, qos, count, expected, ready)))


async def _mqtt_subscribers(
    host: str, port: int, topic: str, qos: int, count: int, expected: int, ready: Any
) -> tuple[list[float], int]:
    """``count`` paho clients on this process's event loop (paho's external-loop API: each
    socket is read when readable, and what paho queued in answer, a PUBACK or the
    SUBSCRIBE, is written right after; paho writes packets queued outside its callbacks,
    such as CONNECT and PINGREQ, at once by itself)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    from stream_latency import latency_ms

    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    sizes = [0]
    subscribed = 0
    all_subscribed = asyncio.Event()
    done = asyncio.Event()
    target = count * expected

    def on_connect(client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            raise SystemExit(f"MQTT connect refused: {reason}")
        client.subscribe(topic, qos)

    def on_subscribe(_c: mqtt.Client, _u: Any, _mid: int, reasons: Any, _p: Any) -> None:
        nonlocal subscribed
        if any(r.is_failure for r in reasons):
            raise SystemExit(f"MQTT subscribe refused: {reasons}")
        subscribed += 1
        if subscribed == count:
            all_subscribed.set()

    def on_message(_c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        latency = latency_ms(message.payload, time.time_ns())
        if latency is not None:
            latencies.append(latency)
            sizes[0] = len(message.payload)
            if len(latencies) == target:
                done.set()

    def readable(client: mqtt.Client) -> None:
        client.loop_read()
        if client.want_write():  # a PUBACK (QoS 1) or the SUBSCRIBE queued by on_connect
            client.loop_write()

    clients = []
    for _ in range(count):
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"fy-bench-{uuid.uuid4().hex[:12]}"
        )
        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        client.on_message = on_message

        def on_open(c: mqtt.Client, _u: Any, sock: Any) -> None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            loop.add_reader(sock, readable, c)

        def on_close(_c: mqtt.Client, _u: Any, sock: Any) -> None:
            loop.remove_reader(sock)

        client.on_socket_open = on_open
        client.on_socket_close = on_close
        client.connect(host, port, keepalive=300)
        clients.append(client)

    async def misc() -> None:  # keepalive and retries, as paho's own loop does once a second
        while True:
            await asyncio.sleep(1)
            for client in clients:
                client.loop_misc()
                if client.want_write():
                    client.loop_write()

    housekeeping = asyncio.ensure_future(misc())
    await asyncio.wait_for(all_subscribed.wait(), 120)
    ready.set()
    # Wait for every delivery, or give up after 30 s without a new one.
    last = -1
    while not done.is_set() and len(latencies) != last:
        last = len(latencies)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 30)
    housekeeping.cancel()
    for client in clients:
        client.disconnect()
    return latencies, sizes[0]


@contextlib.contextmanager
def private_broker() -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """A Mosquitto of our own on a free loopback port; yields the port and the process."""
    workdir = Path(tempfile.mkdtemp(prefix="fy-mqtt-bench-"))
    port = free_port()
    config = workdir / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "set_tcp_nodelay true\nmax_connections -1\nlog_dest none\n"
    )
    broker = subprocess.Popen(["mosquitto", "-c", str(config)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if broker.poll() is not None:
                raise SystemExit(f"mosquitto exited with {broker.returncode}")
            if reachable("127.0.0.1", port) is None:
                break
            time.sleep(0.05)
        yield port, broker
    finally:
        broker.terminate()
        broker.wait(15)
        shutil.rmtree(workdir, ignore_errors=True)


def broker_pid() -> int | None:
    """The Mosquitto process, for its CPU time (None if there is not exactly one)."""
    try:
        out = subprocess.run(["pidof", "mosquitto"], capture_output=True, text=True).stdout.split()
    except OSError:
        return None
    return int(out[0]) if len(out) == 1 else None


def run_mqtt(
    host: str,
    port: int,
    pid: int | None,
    qos: int,
    subscribers: int,
    messages: int,
    rate: float,
    processes: int,
    pad: int,
) -> Result:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    topic = f"{TOPIC}/{uuid.uuid4().hex[:8]}"
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="fy-bench-publisher")
    connected = threading.Event()
    publisher.on_connect = lambda *_: connected.set()

    def nodelay(_c: mqtt.Client, _u: Any, sock: Any) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    publisher.on_socket_open = nodelay
    publisher.connect(host, port, keepalive=300)
    publisher.loop_start()
    if not connected.wait(10):
        raise SystemExit("the MQTT publisher could not connect")

    def publish(n: int) -> None:
        info = publisher.publish(topic, payload(n, pad), qos=qos)
        if qos:
            info.wait_for_publish(30)  # the broker's PUBACK, as a Fleetyard publish awaits its 201

    try:
        latencies, elapsed, used, size = fan_out(
            mqtt_subscriber_process,
            (host, port, topic, qos),
            subscribers,
            processes,
            messages,
            publish,
            rate,
            pid,
        )
    finally:
        publisher.disconnect()
        publisher.loop_stop()
    # An MQTT PUBLISH packet: fixed header (2 to 4 bytes), topic length and name,
    # packet id when QoS > 0, the payload.
    frame = size + 2 + len(topic) + (2 if qos else 0) + (2 if size + len(topic) < 124 else 3)
    name = f"Mosquitto QoS {qos}"
    return Result(name, latencies, subscribers * messages, elapsed, used, frame)


def reachable(host: str, port: int) -> str | None:
    """None if something accepts TCP connections there, else why not."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return None
    except OSError as error:
        return str(error)


def table(results: list[Result]) -> None:
    print(
        f"  {'':<22} {'delivered':>15} {'per s':>8} {'p50':>8} {'p90':>8} {'p99':>8}"
        f" {'max':>8} {'server CPU':>11} {'bytes':>6}"
    )
    for r in results:
        lat = r.latencies or [float("nan")]
        per = r.cpu_per_delivery_us()
        cells = [f"{percentile(lat, p):7.1f}ms" for p in (50, 90, 99)] + [f"{max(lat):7.1f}ms"]
        cpu = f"{per:8.0f} µs" if per is not None else f"{'—':>11}"
        print(
            f"  {r.name:<22} {f'{len(r.latencies)}/{r.expected}':>15}"
            f" {r.deliveries_per_s():8,.0f} {' '.join(cells)} {cpu} {r.frame_bytes:6}"
        )


def main() -> int:
    parser = arguments(__doc__.split("\n")[0])
    parser.add_argument("--mqtt-port", type=int, default=None, help="use the broker there")
    parser.add_argument("--qos", default="0,1", help="comma-separated QoS levels to run")
    parser.add_argument("--skip-fleetyard", action="store_true", help="only the broker")
    args = parser.parse_args()
    host = "127.0.0.1"
    if args.mqtt_port is not None:
        why = reachable(host, args.mqtt_port)
        if why is not None:
            print(f"skipped: no MQTT broker at {host}:{args.mqtt_port} ({why})")
            return 0
        broker: contextlib.AbstractContextManager[tuple[int, Any]] = contextlib.nullcontext(
            (args.mqtt_port, None)
        )
        where = f"the broker on port {args.mqtt_port}"
    elif shutil.which("mosquitto") is None:
        print("skipped: mosquitto is not installed (apt-get install mosquitto)")
        return 0
    else:
        broker = private_broker()
        where = "a private mosquitto (nodelay, no persistence)"
    shape = (args.subscribers, args.messages, args.rate, args.processes, args.pad)
    results = []
    if not args.skip_fleetyard:
        results.append(run_fleetyard(*shape))
    with broker as (port, process):
        pid = process.pid if process is not None else broker_pid()
        for qos in (int(q) for q in args.qos.split(",") if q.strip()):
            results.append(run_mqtt(host, port, pid, qos, *shape))
    version = subprocess.run(
        [shutil.which("mosquitto") or "true", "-h"], capture_output=True, text=True, check=False
    )
    print(
        f"{args.subscribers} subscribers in {args.processes} processes, {args.messages} messages"
        f" at {args.rate:g}/s, payload {len(payload(0, args.pad))} bytes; {where},"
        f" {version.stdout.splitlines()[0] if version.stdout else 'mosquitto'}"
    )
    print("  latency: publish → delivery; server CPU per delivery: yard serve / mosquitto")
    table(results)
    return 0 if all(len(r.latencies) == r.expected for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
