"""Readers that never read: N connections that each send one GET and then stop reading.

Python, not Node, because a reader that never reads must also keep its receive buffer
small (SO_RCVBUF before connect), as an attacker would; Node sockets cannot set it, and
on loopback the kernel would otherwise absorb megabytes per connection.

    python3 stalled-readers.py HOST PORT REQUEST_PATH HOST_HEADER COUNT

Prints "ready" once every connection has the first bytes of its answer (so the server
has begun every one of them; MSG_PEEK leaves those bytes unread). On a line "check" from stdin it reads each
connection to its end (10 s at most each) and prints one JSON line:
{"closed": connections that reached end of stream, "maxBytes": most bytes one received}.
"""
import json
import socket
import sys

from slow_clients import open_requests

host, port, path, host_header, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])

sockets = open_requests(host, port, path, host_header, count)
for s in sockets:
    s.settimeout(60)
    s.recv(1, socket.MSG_PEEK)
print("ready", flush=True)

for line in sys.stdin:
    if line.strip() != "check":
        continue
    closed = 0
    max_bytes = 0
    for s in sockets:
        s.settimeout(10)
        received = 0
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    closed += 1
                    break
                received += len(chunk)
        except ConnectionResetError:
            closed += 1
        except socket.timeout:
            pass
        max_bytes = max(max_bytes, received)
        s.close()
    print(json.dumps({"closed": closed, "maxBytes": max_bytes}), flush=True)
    break
