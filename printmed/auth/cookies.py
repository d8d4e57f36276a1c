"""The pages' session cookie: HttpOnly, SameSite=Strict, and Secure when served over HTTPS.

Its lifetime is the browser session; the server ends it after the idle time regardless.
"""

from __future__ import annotations

from fastapi import Request, Response

from printmed.auth.sessions import COOKIE_NAME


def set_session_cookie(response: Response, token: str, request: Request | None = None) -> None:
    secure = request is None or request.url.scheme == "https"
    response.set_cookie(
        COOKIE_NAME, token, httponly=True, samesite="strict", secure=secure, path="/"
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")
