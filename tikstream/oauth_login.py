"""``tikstream auth login`` and ``tikstream auth check``: the Marketing API OAuth flow (docs/tiktok-api.md §4.1, §4.3).

Login: a one-shot callback server listens on loopback; the advertiser opens the portal URL (derived from the
base URL: ``…/open_api/v1.3`` → ``…/portal/auth``, so it works against ``tikstream emulator`` too), consents,
and TikTok redirects to ``http://127.0.0.1:PORT/callback?auth_code=…&state=…``. The ``state`` must be the one
this login generated (else the callback is refused and the login fails: it may be a forged request); the
single-use ``auth_code`` is exchanged at ``/oauth2/access_token/`` and the long-lived token is written to the
authorization file as a ``tiktok_signin`` entry. The file is replaced atomically, created with mode 0600,
its other entries kept.

Secrets: the token, the app secret and the auth code are never printed or logged; ``auth check`` prints only
the advertisers the token can manage.
"""

from __future__ import annotations

import hmac
import os
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import orjson
import yaml
from pydantic import SecretStr, ValidationError

from tikstream.auth import TikTokSignin, to_file_entry
from tikstream.errors import AuthConfigError, ConfigError, TikstreamError
from tikstream.tiktok.models import Advertiser, TokenGrant

__all__ = [
    "CALLBACK_PATH",
    "CallbackServer",
    "LoginError",
    "LoginResult",
    "OAuthClient",
    "check",
    "login",
    "portal_url",
    "save_authorization",
]

CALLBACK_PATH: Final = "/callback"
FILE_MODE: Final = 0o600
_PAGE: Final = (
    "<!doctype html><meta charset=utf-8><title>tikstream</title>"
    "<body style='font-family:sans-serif'><h2>{title}</h2><p>{text}</p></body>"
)


class LoginError(TikstreamError):
    """The OAuth flow did not complete: state mismatch, consent refused, no code, or timed out."""


class OAuthClient(Protocol):
    """The part of ``TikTokClient`` the login uses."""

    def exchange_auth_code(self, app_id: str, secret: str, auth_code: str) -> TokenGrant: ...

    def list_advertisers(self, token: str, app_id: str, secret: str) -> list[Advertiser]: ...


def portal_url(base_url: str, app_id: str, redirect_uri: str, state: str) -> str:
    """The advertiser authorisation URL on the same host as the API: ``…/open_api/v1.3`` → ``…/portal/auth``."""
    parts = urlsplit(base_url)
    prefix = parts.path.split("/open_api", 1)[0].rstrip("/")
    query = urlencode({"app_id": app_id, "state": state, "redirect_uri": redirect_uri})
    return urlunsplit((parts.scheme, parts.netloc, f"{prefix}/portal/auth", query, ""))


@dataclass(slots=True)
class _Outcome:
    code: str | None = None
    error: str | None = None


class CallbackServer:
    """Waits on ``127.0.0.1:port`` for the one redirect carrying ``auth_code`` and the expected ``state``.

    Requests to other paths answer 404 and are otherwise ignored. The first request to ``CALLBACK_PATH``
    decides: a wrong or missing ``state``, an ``error`` parameter or a missing ``auth_code`` fails the login.
    Use as a context manager; ``wait`` blocks up to ``timeout`` seconds.
    """

    def __init__(self, state: str, port: int = 0, host: str = "127.0.0.1") -> None:
        self._state = state
        self._outcome = _Outcome()
        self._done = threading.Event()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self.redirect_uri = f"http://{host}:{self._server.server_address[1]}{CALLBACK_PATH}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="oauth-callback", daemon=True)

    def __enter__(self) -> CallbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait(self, timeout: float) -> str:
        """The ``auth_code``; raises ``LoginError`` when the callback failed or did not come in time."""
        if not self._done.wait(timeout):
            raise LoginError(f"no callback within {timeout:.0f}s (was the URL opened and consent given?)")
        if self._outcome.error is not None or self._outcome.code is None:
            raise LoginError(self._outcome.error or "the callback carried no auth_code")
        return self._outcome.code

    def _decide(self, query: Mapping[str, list[str]]) -> tuple[int, str, str]:
        """Record the outcome of the callback; returns (HTTP status, title, text) for the browser."""
        state = (query.get("state") or [""])[0]
        code = (query.get("auth_code") or query.get("code") or [""])[0]
        if not hmac.compare_digest(state.encode(), self._state.encode()):
            self._outcome.error = "the callback's state does not match this login (refused); run it again"
        elif "error" in query:
            self._outcome.error = f"authorisation refused: {(query.get('error') or [''])[0][:200]}"
        elif not code:
            self._outcome.error = "the callback carried no auth_code"
        else:
            self._outcome.code = code
        self._done.set()
        if self._outcome.error is not None:
            return 400, "tikstream: authorisation failed", self._outcome.error
        return 200, "tikstream is authorised", "You can close this tab and go back to the terminal."

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path != CALLBACK_PATH or server._done.is_set():
                    status, title, text = 404, "not found", "nothing here"
                else:
                    status, title, text = server._decide(parse_qs(url.query))
                body = _PAGE.format(title=title, text=text).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None  # the query string holds the auth code

        return Handler


@dataclass(frozen=True, slots=True)
class LoginResult:
    name: str
    path: Path
    advertiser_ids: tuple[str, ...]


def login(client: OAuthClient, *, base_url: str, name: str, app_id: str, secret: str, auth_file: Path,
          redirect_port: int = 0, timeout: float = 300.0, announce: Callable[[str, str], None],
          open_browser: Callable[[str], object] | None = None) -> LoginResult:
    """Run the flow and save the token. ``announce(url, redirect_uri)`` is called once the callback server
    listens; ``open_browser(url)`` too, when given. Raises ``LoginError``, ``ConfigError`` (the file) or a
    ``TikTokError`` (the exchange)."""
    state = secrets.token_urlsafe(24)
    try:
        callback = CallbackServer(state, redirect_port)
    except OSError as exc:
        raise LoginError(f"cannot listen on 127.0.0.1:{redirect_port} for the callback: {exc.strerror}") from None
    with callback:
        url = portal_url(base_url, app_id, callback.redirect_uri, state)
        announce(url, callback.redirect_uri)
        if open_browser is not None:
            open_browser(url)
        code = callback.wait(timeout)
    grant = client.exchange_auth_code(app_id, secret, code)
    auth = _signin(grant, app_id, secret)
    save_authorization(auth_file, name, to_file_entry(auth))
    return LoginResult(name, auth_file, grant.advertiser_ids)


def _signin(grant: TokenGrant, app_id: str, secret: str) -> TikTokSignin:
    try:
        return TikTokSignin(kind="tiktok_signin", access_token=grant.access_token, app_id=app_id,
                            secret=SecretStr(secret), advertiser_ids=grant.advertiser_ids or None)
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
        raise ConfigError(f"the token TikTok returned cannot be stored: invalid {fields}") from None


def save_authorization(path: Path, name: str, entry: Mapping[str, object]) -> None:
    """Add or replace ``name`` in the authorization file, keeping the other entries; the file is written
    atomically with mode 0600 (JSON for a ``.json`` name, YAML otherwise; YAML comments are not kept)."""
    document = _existing(path)
    entries = document.setdefault("authorizations", {})
    if not isinstance(entries, dict):
        raise AuthConfigError(f"authorization file {path}: 'authorizations' is not an object; not changed")
    entries[name] = dict(entry)
    if path.suffix.lower() == ".json":
        text = orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"
    else:
        text = yaml.safe_dump(document, sort_keys=False).encode()
    _write_private(path, text)


def _existing(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise AuthConfigError(f"cannot read authorization file {path}: {exc.strerror}") from None
    try:
        document = orjson.loads(raw) if path.suffix.lower() == ".json" else yaml.safe_load(raw)
    except (orjson.JSONDecodeError, yaml.YAMLError):
        raise AuthConfigError(f"authorization file {path} cannot be parsed; not changed") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise AuthConfigError(f"authorization file {path} is not an object; not changed")
    return document


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), FILE_MODE)  # also when a stale temporary file existed
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check(client: OAuthClient, auth: TikTokSignin) -> list[Advertiser]:
    """The advertisers ``auth`` can manage (``/oauth2/advertiser/get/``)."""
    return client.list_advertisers(auth.access_token.get_secret_value(), auth.app_id,
                                   auth.secret.get_secret_value())
