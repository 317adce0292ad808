"""Loopback services made reachable from one run's container, and from nothing else.

A container reaches this machine as `host.docker.internal` (the bridge's gateway address), but a
sandbox or a database listening on 127.0.0.1 only does not answer there. For the duration of a
run, a relay listens on gateway:PORT (the same port, so the URL the runtime rewrites works as is),
admits connections from that run's container address only, and relays them to the service on
loopback. It closes when the run ends. A port that is already served on the gateway (a server on
0.0.0.0) needs nothing.

The container's address is known only once it has started, and by then it may already be
connecting: a connection that arrives while a run's address is pending waits for it, and is
admitted only if it comes from that address.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field

from purelink.errors import ExecutionError

ADMIT_WAIT_S = 60.0  # how long a connection may wait for its run's address (a busy engine is slow)
_CHUNK = 65536


@dataclass
class _Relay:
    """One listening socket on (gateway, port), shared by the runs of this process that need it."""

    bind: tuple[str, int]
    target: tuple[str, int]
    server: socket.socket
    allowed: dict[str, int] = field(default_factory=dict)  # container address -> runs using it
    pending: int = 0  # runs whose container address is not known yet
    users: int = 0
    closed: bool = False
    cond: threading.Condition = field(default_factory=threading.Condition)
    conns: set[socket.socket] = field(default_factory=set)

    def start(self) -> None:
        threading.Thread(target=self._accept, name=f"purelink-forward-{self.bind[1]}", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, peer = self.server.accept()
            except OSError:  # the listening socket was shut down: the last run ended
                return
            threading.Thread(target=self._serve, args=(conn, peer[0]), daemon=True).start()

    def _admitted(self, address: str) -> bool:
        with self.cond:
            self.cond.wait_for(lambda: self.closed or address in self.allowed or not self.pending,
                               timeout=ADMIT_WAIT_S)
            return not self.closed and address in self.allowed

    def _serve(self, conn: socket.socket, address: str) -> None:
        if not self._admitted(address):
            conn.close()
            return
        try:
            upstream = socket.create_connection(self.target, timeout=10)
        except OSError:
            conn.close()
            return
        upstream.settimeout(None)
        with self.cond:
            self.conns.update((conn, upstream))
        back = threading.Thread(target=_pump, args=(upstream, conn), daemon=True)
        back.start()
        _pump(conn, upstream)
        back.join()
        with self.cond:
            self.conns.difference_update((conn, upstream))
        conn.close()
        upstream.close()

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()
            conns = list(self.conns)
        for sock in [self.server, *conns]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes accept() and the pumps
        self.server.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(_CHUNK):
            sink.sendall(data)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)  # pass the end of one direction on; the other may go on


# One listening socket per (gateway, port) can exist on this machine, so two runs of this process
# that name the same loopback port share a relay; each admits its own container address.
_relays: dict[tuple[str, int], _Relay] = {}
_relays_lock = threading.Lock()


def served_on(address: str, port: int, timeout_s: float = 1.0) -> bool:
    """Whether something other than our own relays accepts connections on address:port."""
    with _relays_lock:
        if (address, port) in _relays:
            return False
    try:
        with socket.create_connection((address, port), timeout=timeout_s):
            return True
    except OSError:
        return False


class RunForwarding:
    """The relays of one run: `admit(address)` once its container has one, `close()` when it ends.

    `lines` says, per loopback port the run names, what was done, for the run's checklist."""

    def __init__(self, gateway: str, targets: list[tuple[str, int]]) -> None:
        self.gateway = gateway
        self.lines: list[str] = []
        self._relays: list[_Relay] = []
        self._address: str | None = None
        try:
            for host, port in dict.fromkeys(targets):
                shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
                if served_on(gateway, port):
                    self.lines.append(f"{shown} is also served on the Docker bridge ({gateway}:{port})")
                    continue
                try:
                    self._relays.append(_reserve(gateway, port, (host, port)))
                except OSError as exc:
                    raise ExecutionError(
                        f"{shown} cannot be forwarded to the run's container: {gateway}:{port} is taken "
                        f"({exc.strerror}).",
                        f"Stop the program holding {gateway}:{port}, or start the service on "
                        f"{gateway} or 0.0.0.0 as well, so that containers reach it directly.") from exc
                self.lines.append(f"{shown} forwarded to this run's container only")
        except BaseException:
            self.close()
            raise

    def admit(self, address: str) -> None:
        """Let the run's container in: its address on the bridge, known once it has started."""
        self._address = address
        for relay in self._relays:
            with relay.cond:
                relay.allowed[address] = relay.allowed.get(address, 0) + 1
                relay.pending -= 1
                relay.cond.notify_all()

    def close(self) -> None:
        """Idempotent. The last run using a relay closes its listening socket."""
        relays, self._relays = self._relays, []
        for relay in relays:
            with relay.cond:
                if self._address is None:
                    relay.pending -= 1
                elif relay.allowed.get(self._address, 0) > 1:
                    relay.allowed[self._address] -= 1
                else:
                    relay.allowed.pop(self._address, None)
                relay.cond.notify_all()
            _release(relay)


def _reserve(gateway: str, port: int, target: tuple[str, int]) -> _Relay:
    with _relays_lock:
        relay = _relays.get((gateway, port))
        if relay is None:
            server = socket.create_server((gateway, port), backlog=64)
            relay = _Relay(bind=(gateway, port), target=target, server=server)
            relay.start()
            _relays[(gateway, port)] = relay
        relay.users += 1
        with relay.cond:
            relay.pending += 1
        return relay


def _release(relay: _Relay) -> None:
    with _relays_lock:
        relay.users -= 1
        if relay.users > 0:
            return
        _relays.pop(relay.bind, None)
    relay.close()
