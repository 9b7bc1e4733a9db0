"""Real notification channels on loopback: an SMTP server (aiosmtpd) and a JSON webhook receiver.

apprise sends to them exactly as it would to a mail host or a chat service's
webhook; each keeps what it received, in order.
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from nexus.notify.channels import Channel, parse_channels


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Inbox:
    """What an SMTP server received."""

    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 OK"

    @property
    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.messages]


@dataclass
class Hook:
    """What a JSON webhook received; `fail` makes it answer 503."""

    posts: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0
    fail: bool = False

    @property
    def titles(self) -> list[str]:
        return [p["title"] for p in self.posts]


@contextmanager
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@contextmanager
def json_receiver() -> Iterator[tuple[Hook, int]]:
    hook = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if hook.fail:
                hook.refused += 1
                self.send_response(503)
            else:
                hook.posts.append(json.loads(body))
                self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Receivers:
    inbox: Inbox
    hook: Hook
    channels: list[Channel]
    urls: str

    def received(self) -> list[str]:
        """Every message title, webhook then email (each channel gets each message once)."""
        return self.hook.titles + self.inbox.subjects


@contextmanager
def receivers() -> Iterator[Receivers]:
    with smtp_server() as (inbox, smtp_port), json_receiver() as (hook, http_port):
        urls = (
            f"hook=json://127.0.0.1:{http_port}/notify,"
            f"mailto://127.0.0.1:{smtp_port}?from=nexus@example.com&to=owner@example.com"
            "&mode=insecure"
        )
        yield Receivers(inbox, hook, parse_channels(urls), urls)


def text_of(message: EmailMessage) -> tuple[str, str]:
    """An email's plain-text and HTML parts."""
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None and html is not None, "the email lacks a plain or an HTML part"
    return str(plain.get_content()), str(html.get_content())
