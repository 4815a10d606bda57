"""Free loopback ports for lab devices, checked by binding them (never with ``SO_REUSEPORT``)."""

from __future__ import annotations

import errno
import socket

from nornflow.exceptions import LabError


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:port (bound without SO_REUSEPORT, so it is honest)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def free_ports(count: int, start: int | None = None) -> list[int]:
    """``count`` free loopback ports, from ``start`` upwards or chosen by the kernel."""
    ports: list[int] = []
    if start is None:
        held = []
        try:
            while len(ports) < count:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.bind(("127.0.0.1", 0))
                held.append(sock)
                ports.append(sock.getsockname()[1])
        finally:
            for sock in held:
                sock.close()
        return ports
    port = start
    while len(ports) < count:
        if port > 65535:
            raise LabError(f"not enough free ports from {start}: found {len(ports)} of {count}")
        if port_is_free(port):
            ports.append(port)
        port += 1
    return ports
