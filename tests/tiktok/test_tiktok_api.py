"""The public surface of ``tikstream.tiktok``: explicit ``__all__`` lists; httpx stays inside the package."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import tikstream.tiktok
import tikstream.tiktok.client

MODULES = ["client", "errors", "models", "ratelimit", "retry", "transport"]


@pytest.mark.parametrize("module", ["tikstream.tiktok", *(f"tikstream.tiktok.{m}" for m in MODULES)])
def test_all_names_exist(module: str) -> None:
    mod = importlib.import_module(module)
    names = mod.__all__
    assert len(names) == len(set(names))
    for name in names:
        assert hasattr(mod, name), f"{module}.{name}"


def test_package_exports_the_contract() -> None:
    expected = {"TikTokClient", "RetryPolicy", "RateLimiter", "Envelope", "AudienceDetails", "TokenGrant",
                "Advertiser", "TikTokError", "RetryableError", "ThrottledError", "TransportError",
                "AudienceBusyError", "ReauthorizeError", "PermanentError", "AudienceTooSmallError",
                "ErrorClass", "classify"}
    assert expected <= set(tikstream.tiktok.__all__)


def test_client_method_names_are_the_contract() -> None:
    client = tikstream.tiktok.TikTokClient
    for name in ("track_events", "upload_audience_file", "create_audience", "update_audience",
                 "get_audiences", "list_audiences", "delete_audiences", "exchange_auth_code",
                 "list_advertisers", "close"):
        assert callable(getattr(client, name)), name


def _imports_httpx(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "httpx" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "httpx":
            return True
    return False


def test_only_the_tiktok_package_imports_httpx() -> None:
    root = Path(tikstream.tiktok.client.__file__).parents[1]  # tikstream/ (the editable install may make
    # ``tikstream`` a namespace package without ``__file__``)
    outside = [str(p.relative_to(root)) for p in root.rglob("*.py")
               if "tiktok" not in p.relative_to(root).parts[:1] and _imports_httpx(p)]
    assert outside == []
