"""Port checks with messages a user can act on."""

from __future__ import annotations

import contextlib
import socket
import time


class PortInUseError(RuntimeError):
    pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def ensure_free(host: str, port: int, what: str, env_var: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            raise PortInUseError(
                f"port {port} on {host} is already in use, so {what} cannot start there. "
                f"Stop whatever holds it, or choose another port with {env_var}=<port>."
            ) from None


def wait_for_port(host: str, port: int, timeout: float, is_alive: object = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return True
        if callable(is_alive) and not is_alive():
            return False
        time.sleep(0.05)
    return False
