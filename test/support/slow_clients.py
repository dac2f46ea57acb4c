"""What the slow-client scripts share: connections that send one GET each and read nothing.

Each socket's receive buffer is set small before connect, as an attacker would set it:
on loopback the kernel would otherwise absorb megabytes per connection, and a reader that
never reads would not look stalled to the server.
"""
import socket


def open_requests(host, port, path, host_header, count):
    """COUNT connected sockets, each having sent `GET path` and read nothing."""
    sockets = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect((host, port))
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host_header}\r\n\r\n".encode())
        sockets.append(s)
    return sockets
