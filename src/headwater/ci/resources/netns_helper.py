"""Inside a sandbox's network namespace: wait for its loopback, open the allowed ports.

Run by netns.py as `nsenter --target PID --net ... python3 -I netns_helper.py FD
HOST:PORT...`, before slirp4netns is started and before the sandbox runs anything:

1. wait until bubblewrap has set up the namespace's loopback (`lo` up, 127.0.0.1
   on it). bwrap does so in the sandbox while we already know its pid, and
   slirp4netns's `--configure` also brings `lo` up: run concurrently, bwrap's
   RTM_NEWADDR fails and the sandbox dies ("loopback: Failed RTM_NEWADDR");
2. bind and listen on each HOST:PORT, send the sockets over the Unix socket FD
   (SCM_RIGHTS) and exit. A socket keeps the namespace it was created in, so the
   server accepts on these sockets from its own namespace and connects each client to
   the host's HOST:PORT.

Standard library only, run as a file: it imports nothing of headwater.
"""

from __future__ import annotations

import fcntl
import socket
import struct
import sys
import time

_SIOCGIFFLAGS = 0x8913
_IFF_UP = 0x1
_WAIT = 10.0


def _loopback_up() -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        answer = fcntl.ioctl(s.fileno(), _SIOCGIFFLAGS, struct.pack("16sH", b"lo", 0))
    return bool(struct.unpack("16sH", answer[:18])[1] & _IFF_UP)


def _wait_for_loopback() -> None:
    deadline = time.monotonic() + _WAIT
    while not _loopback_up():
        if time.monotonic() > deadline:
            sys.exit(f"the sandbox's loopback was not up after {_WAIT:g}s")
        time.sleep(0.002)


def _listen(endpoint: str) -> socket.socket:
    host, _, port = endpoint.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, int(port)))
    sock.listen(128)
    return sock


def main(argv: list[str]) -> int:
    channel = socket.socket(fileno=int(argv[0]))
    _wait_for_loopback()
    sockets = [_listen(endpoint) for endpoint in argv[1:]]
    socket.send_fds(channel, [b"ok"], [s.fileno() for s in sockets])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
