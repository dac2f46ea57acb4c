"""Connections that ask for a download and never read it, counted by the answer each got.

Like stalled-readers.py (a small SO_RCVBUF before connect, as an attacker would set it),
but for a flood beyond a server's connection cap: it tells which were served and which
refused.

    python3 held-connections.py HOST PORT REQUEST_PATH HOST_HEADER COUNT

Opens COUNT connections, each sending one GET, then peeks (MSG_PEEK: nothing is read) at
each answer's status line, 20 s at most each, and prints one JSON line:
{"statuses": {"200": served, "503": refused, ...}, "closed": connections with no answer}.
It then holds them, unread, until a line "close" (or the end of stdin), closes them all
and prints "closed".
"""
import json
import socket
import sys
import time

from slow_clients import open_requests

host, port, path, host_header, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])

sockets = open_requests(host, port, path, host_header, count)

statuses = {}
closed = 0
for s in sockets:
    deadline = time.monotonic() + 20
    head = b""
    s.settimeout(20)
    try:
        while len(head) < 12 and time.monotonic() < deadline:
            head = s.recv(12, socket.MSG_PEEK)
            if not head:
                break
            if len(head) < 12:
                time.sleep(0.01)
    except (ConnectionResetError, socket.timeout):
        pass
    if len(head) < 12:
        closed += 1
        continue
    status = head[9:12].decode("latin1")
    statuses[status] = statuses.get(status, 0) + 1
print(json.dumps({"statuses": statuses, "closed": closed}), flush=True)

for line in sys.stdin:
    if line.strip() == "close":
        break
for s in sockets:
    s.close()
print("closed", flush=True)
