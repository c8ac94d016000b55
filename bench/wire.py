"""A keep-alive JSON client on http.client: one connection per thread, loopback only."""

import http.client
import json
import socket

LOOPBACK = "127.0.0.1"


class Client:
    """One persistent HTTP/1.1 connection to the server; reconnects when the server closed it."""

    def __init__(self, port, host=LOOPBACK, timeout=120):
        if host != LOOPBACK:
            raise ValueError("the benchmark only talks to 127.0.0.1")
        self.host, self.port, self.timeout = host, port, timeout
        self.conn = None

    def _connect(self):
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        self.conn.connect()
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def raw(self, method, path, body=None, headers=None):
        """Send one request: (status, body bytes). body is bytes or None."""
        headers = dict(headers or {})
        for attempt in (1, 2):
            if self.conn is None:
                self._connect()
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionError, http.client.BadStatusLine):
                # An idle keep-alive connection the server closed: reconnect once.
                self.close()
                if attempt == 2:
                    raise
                continue
            if response.getheader("Connection", "").lower() == "close":
                self.close()
            return response.status, data
        raise AssertionError("unreachable")

    def call(self, method, path, body=None, token=None):
        """A JSON request: (status, decoded envelope or None)."""
        headers = {}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        status, data = self.raw(method, path, payload, headers)
        try:
            return status, json.loads(data) if data else None
        except ValueError:
            return status, None


def request_spec(method, path, body=None, token=None, tag=None):
    """A request as the load generator takes it (JSON-serialisable)."""
    headers = {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    spec = {"method": method, "path": path, "headers": headers}
    if body is not None:
        spec["body"] = json.dumps(body)
    if tag is not None:
        spec["tag"] = tag
    return spec


def error_code(data):
    """The envelope's error code from a response body, or None."""
    try:
        envelope = json.loads(data)
    except (ValueError, TypeError):
        return None
    if isinstance(envelope, dict) and isinstance(envelope.get("error"), dict):
        return envelope["error"].get("code")
    return None
