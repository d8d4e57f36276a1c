"""Request body size limit and per-caller rate limit, before any route runs.

A caller is its credential (bearer token or session cookie, hashed) or else its address; each
has a token bucket of `rate_limit_per_minute` requests refilled continuously.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from printmed.api.problems import error_response
from printmed.auth.sessions import COOKIE_NAME

MAX_BUCKETS = 10_000


@dataclass
class RateLimiter:
    """Token buckets: `per_minute` requests a minute per caller, bursts up to the same."""

    per_minute: int
    buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_s(self, caller: str, now: float | None = None) -> float:
        """0 if the caller may go now (one token taken), else seconds until a token is free."""
        now = time.monotonic() if now is None else now
        rate_per_s = self.per_minute / 60.0
        with self.lock:
            tokens, seen = self.buckets.get(caller, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - seen) * rate_per_s)
            if tokens < 1.0:
                self.buckets[caller] = (tokens, now)
                return (1.0 - tokens) / rate_per_s
            if len(self.buckets) >= MAX_BUCKETS and caller not in self.buckets:
                self.buckets.clear()
            self.buckets[caller] = (tokens - 1.0, now)
            return 0.0


def caller_of(scope: Scope) -> str:
    """The credential's SHA-256 (never the credential), or the client address."""
    headers = dict(scope.get("headers") or [])
    credential = headers.get(b"authorization", b"")
    if not credential:
        for part in headers.get(b"cookie", b"").split(b";"):
            name, _, value = part.strip().partition(b"=")
            if name == COOKIE_NAME.encode():
                credential = value
    if credential:
        return "cred:" + hashlib.sha256(credential).hexdigest()[:32]
    client = scope.get("client")
    return "addr:" + (client[0] if client else "unknown")


class RequestLimits:
    """ASGI middleware: 413 above `max_body_bytes`, 429 (with Retry-After) above the rate."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, per_minute: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.limiter = RateLimiter(per_minute)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        wait = self.limiter.wait_s(caller_of(scope))
        if wait > 0:
            response = error_response(
                path,
                429,
                f"rate limit of {self.limiter.per_minute} requests a minute reached",
                headers={"Retry-After": str(max(1, round(wait)))},
            )
            await response(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and not declared.isdigit():
            response = error_response(path, 400, "Content-Length is not a whole number")
            await response(scope, receive, send)
            return
        if declared is not None and int(declared) > self.max_body_bytes:
            await self._too_large(scope, receive, send, path)
            return
        body, more, too_large = [], True, False
        size = 0
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                too_large = True
                break
            body.append(chunk)
            more = message.get("more_body", False)
        if too_large:
            await self._too_large(scope, receive, send, path)
            return
        whole = b"".join(body)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": whole, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        response = error_response(
            path, 413, f"the request body is above the limit of {self.max_body_bytes} bytes"
        )
        await response(scope, receive, send)
