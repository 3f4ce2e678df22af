"""``tikstream auth``: TikTok sign-in (OAuth) and token checks."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from tikstream.cli.common import RAW, print_table, settings_options
from tikstream.errors import ConfigError
from tikstream.settings import Settings

EPILOG_AUTH = """examples:
  tikstream auth login --name tiktok-main --app-id 7310000000000000000      # prompts for the app secret
  TIKSTREAM_APP_SECRET=... tikstream auth login --name tiktok-main --app-id 7310000000000000000 --no-browser
  tikstream auth check tiktok-main

Against the emulator (its developer app is emulator-app / emulator-secret):
  tikstream auth login --name local --app-id emulator-app --secret emulator-secret --no-browser \\
      --tiktok-base-url http://127.0.0.1:18080/open_api/v1.3 --auth-file ./auth.json
"""
EPILOG_LOGIN = """The flow (docs/tiktok-api.md §4.1): a callback server listens on 127.0.0.1:PORT; open the printed URL,
consent, and TikTok redirects to http://127.0.0.1:PORT/callback. The state is checked, the auth_code exchanged
for a long-lived token, and the token saved in the authorization file (mode 0600, other entries kept) as a
tiktok_signin entry. Register http://127.0.0.1:PORT/callback as a redirect URL of your TikTok app.
The secret is read from --secret, else TIKSTREAM_APP_SECRET, else a prompt (the safest: not in shell history).

examples:
  tikstream auth login --name tiktok-main --app-id 7310000000000000000
  tikstream auth login --name tiktok-main --app-id 7310000000000000000 --no-browser --redirect-port 8585
"""
EPILOG_CHECK = """examples:
  tikstream auth check tiktok-main
  tikstream auth check tiktok-main --auth-file /run/secrets/auth.json

Exit 0 when TikTok accepts the token (the advertisers it can manage are listed), 1 when it is rejected.
The token is never printed.
"""


def add_auth_parser(sub: Any) -> None:
    auth = sub.add_parser("auth", help="sign in to TikTok (OAuth) and check tokens", formatter_class=RAW,
                          epilog=EPILOG_AUTH, description="Manage tiktok_signin authorizations.")
    asub = auth.add_subparsers(dest="auth_command", required=True, metavar="ACTION")
    login = asub.add_parser("login", help="run the OAuth flow and save the token", formatter_class=RAW,
                            epilog=EPILOG_LOGIN, description="TikTok Marketing API sign-in (auth_code flow).")
    login.add_argument("--name", required=True, help="the authorization's name in the file (jobs use it)")
    login.add_argument("--app-id", required=True, help="your TikTok developer app's id")
    login.add_argument("--secret", help="the app's secret (default: TIKSTREAM_APP_SECRET, else a prompt)")
    login.add_argument("--no-browser", action="store_true", help="print the URL only; do not open a browser")
    login.add_argument("--redirect-port", type=int, default=8585,
                       help="port of the callback on 127.0.0.1 (default 8585; 0 picks a free one)")
    login.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for consent (default 300)")
    settings_options(login, ("auth_file", "tiktok_base_url"))
    check = asub.add_parser("check", help="list the advertisers a tiktok_signin token can manage",
                            formatter_class=RAW, epilog=EPILOG_CHECK, description="Check a token with TikTok.")
    check.add_argument("name", help="the authorization's name in the file")
    settings_options(check, ("auth_file", "tiktok_base_url"))



def _app_secret(given: str | None) -> str:
    secret = given or os.environ.get("TIKSTREAM_APP_SECRET")
    if secret:
        return secret
    if not sys.stdin.isatty():
        raise ConfigError("no app secret: pass --secret, set TIKSTREAM_APP_SECRET, or run in a terminal")
    import getpass

    secret = getpass.getpass("TikTok app secret: ")
    if not secret:
        raise ConfigError("no app secret given")
    return secret


def cmd_auth_login(args: argparse.Namespace, settings: Settings) -> int:
    import webbrowser

    from tikstream.oauth_login import login
    from tikstream.tiktok.client import TikTokClient
    from tikstream.tiktok.errors import PermanentError, ReauthorizeError

    secret = _app_secret(args.secret)

    def announce(url: str, redirect_uri: str) -> None:
        print(f"Open this URL in a browser to authorise tikstream (app {args.app_id}):\n\n  {url}\n")
        print(f"Waiting up to {args.timeout:.0f}s for TikTok to redirect to {redirect_uri} ...", flush=True)

    try:
        with TikTokClient(settings.tiktok_base_url) as client:
            result = login(client, base_url=settings.tiktok_base_url, name=args.name, app_id=args.app_id,
                           secret=secret, auth_file=settings.auth_file, redirect_port=args.redirect_port,
                           timeout=args.timeout, announce=announce,
                           open_browser=None if args.no_browser else webbrowser.open)
    except (ReauthorizeError, PermanentError) as exc:
        print(f"error: TikTok refused the sign-in: {exc}; nothing saved", file=sys.stderr)
        return 1
    advertisers = ", ".join(result.advertiser_ids) or "none listed"
    print(f"Authorised: saved {result.name!r} (tiktok_signin; advertisers: {advertisers}) to {result.path} "
          "(mode 0600).")
    print(f"Check it any time with: tikstream auth check {result.name}")
    return 0


def cmd_auth_check(args: argparse.Namespace, settings: Settings) -> int:
    from tikstream.auth import TikTokSignin, load_authorizations
    from tikstream.oauth_login import check
    from tikstream.tiktok.client import TikTokClient
    from tikstream.tiktok.errors import PermanentError, ReauthorizeError

    authorizations = load_authorizations(settings.auth_file)
    auth = authorizations.get(args.name)
    if auth is None:
        known = ", ".join(sorted(authorizations)) or "none"
        print(f"error: no authorization named {args.name!r} in {settings.auth_file} (known: {known})",
              file=sys.stderr)
        return 1
    if not isinstance(auth, TikTokSignin):
        print(f"error: {args.name!r} is an {auth.kind}; `auth check` lists the advertisers of tiktok_signin "
              "tokens only", file=sys.stderr)
        return 1
    try:
        with TikTokClient(settings.tiktok_base_url) as client:
            advertisers = check(client, auth)
    except (ReauthorizeError, PermanentError) as exc:
        print(f"error: TikTok refused {args.name!r}: {exc}; sign in again with "
              f"`tikstream auth login --name {args.name} --app-id {auth.app_id}`", file=sys.stderr)
        return 1
    print(f"{args.name}: tiktok_signin for app {auth.app_id}; token accepted by {settings.tiktok_base_url}; "
          f"{len(advertisers)} advertiser(s):")
    print_table([("ADVERTISER ID", "NAME"), *((a.advertiser_id, a.advertiser_name) for a in advertisers)])
    return 0
