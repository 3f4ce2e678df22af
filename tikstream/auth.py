"""The authorization file (docs/architecture.md §5): kinds, loading, compatibility with job types, and a watching store.

Credentials live only here, never in Kafka. Secret fields are ``SecretStr`` (``repr`` and ``str`` show
``**********``), and no message this module builds quotes a value from the file: parse errors give a line and
column, validation errors a field path and what was expected.

::

    {"authorizations": {
        "tiktok-main":   {"kind": "tiktok_signin", "access_token": "...", "app_id": "...", "secret": "..."},
        "pixel-token":   {"kind": "events_token",  "access_token": "..."},
        "store-offline": {"kind": "offline_token", "access_token": "...", "event_set_id": "1616318632825"}}}

An ``events_token`` may also name the one ``pixel_code``, ``app_id`` or CRM ``event_set_id`` it was issued for
(Events Manager tokens belong to one pixel); jobs are then checked against it, as offline tokens are against
their event set. A ``crm_events`` job takes an ``events_token`` only when it names the job's event set.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Final, Literal

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from tikstream.errors import AuthConfigError, FieldError
from tikstream.jobs.field_errors import KnownFields, field_errors
from tikstream.jobs.fields import PIXEL_CODE_PATTERN
from tikstream.jobs.models import AnyJob, AppEventsJob, AudienceExportJob, CrmEventsJob, OfflineEventsJob, WebEventsJob
from tikstream.jobs.types import PATTERNS, AuthName, Digits

__all__ = [
    "ACCEPTED_KINDS",
    "AnyAuthorization",
    "AuthStore",
    "Authorization",
    "AuthorizationFile",
    "EventsToken",
    "OfflineToken",
    "TikTokSignin",
    "check_document_auth",
    "check_job_auth",
    "load_authorizations",
    "to_file_entry",
]

log = logging.getLogger(__name__)

ACCEPTED_KINDS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType({
    "audience_export": ("tiktok_signin",),
    "app_events": ("events_token", "tiktok_signin"),
    "web_events": ("events_token", "tiktok_signin"),
    "offline_events": ("offline_token", "tiktok_signin"),
    "crm_events": ("events_token", "tiktok_signin"),
})  # fmt: skip
"""Job type → authorization kinds it accepts (docs/architecture.md §5)."""

KINDS: Final = ("tiktok_signin", "events_token", "offline_token")
APP_ID_PATTERN: Final = r"^[A-Za-z0-9_.-]{1,64}$"
Secret = Annotated[SecretStr, Field(min_length=1)]


class _Authorization(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


class TikTokSignin(_Authorization):
    """A Marketing API long-term token from the OAuth flow (``tikstream auth login``)."""

    kind: Literal["tiktok_signin"]
    access_token: Secret
    app_id: Annotated[str, Field(pattern=APP_ID_PATTERN, description="The developer app's id.")]
    secret: Secret
    advertiser_ids: tuple[Digits, ...] | None = Field(
        default=None, description="Advertisers the token may manage, as returned by the OAuth exchange."
    )


class EventsToken(_Authorization):
    """An Events Manager access token, for web, app and crm events."""

    kind: Literal["events_token"]
    access_token: Secret
    pixel_code: Annotated[str, Field(pattern=PIXEL_CODE_PATTERN)] | None = None
    app_id: Digits | None = None
    event_set_id: Annotated[Digits | None, Field(description="The CRM event set the token is for.")] = None

    @model_validator(mode="after")
    def _one_scope(self) -> EventsToken:
        scopes = [s for s in (self.pixel_code, self.app_id, self.event_set_id) if s is not None]
        if len(scopes) > 1:
            raise ValueError("an events_token is for one pixel_code, one app_id or one event_set_id, not several")
        return self


class OfflineToken(_Authorization):
    """An offline event set's access token: valid for that event set only."""

    kind: Literal["offline_token"]
    access_token: Secret
    event_set_id: Digits


AnyAuthorization = TikTokSignin | EventsToken | OfflineToken
Authorization = Annotated[AnyAuthorization, Field(discriminator="kind")]


class AuthorizationFile(BaseModel):
    """The whole file: authorization name → authorization."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    authorizations: dict[AuthName, Authorization]


def load_authorizations(path: str | Path) -> dict[str, AnyAuthorization]:
    """Read and validate an authorization file (JSON, or YAML for any other suffix).

    Raises ``AuthConfigError`` for a missing, unreadable or invalid file; the message never quotes the file.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise AuthConfigError(f"authorization file {p} does not exist (see TIKSTREAM_AUTH_FILE)") from None
    except OSError as exc:
        raise AuthConfigError(
            f"cannot read authorization file {p}: {exc.strerror or type(exc).__name__}"
        ) from None
    document = _parse(p, raw)
    if not isinstance(document, Mapping):
        raise AuthConfigError(f"authorization file {p}: expected an object with an 'authorizations' object")
    try:
        return dict(AuthorizationFile.model_validate(document).authorizations)
    except ValidationError as exc:
        errors = field_errors(
            exc, patterns=PATTERNS, tag_at=2, tags=KINDS, known_fields=_known_fields(document)
        )
        raise AuthConfigError(f"authorization file {p} is invalid: " + "; ".join(map(str, errors))) from None


def _known_fields(document: Mapping[str, object]) -> KnownFields:
    """Field names for "did you mean": the file's top level, or one entry's kind."""
    models: dict[str, type[AnyAuthorization]] = {
        "tiktok_signin": TikTokSignin, "events_token": EventsToken, "offline_token": OfflineToken,
    }  # fmt: skip

    def known(parent: tuple[str, ...]) -> Collection[str]:
        if not parent:
            return AuthorizationFile.model_fields.keys()
        entries = document.get("authorizations")
        entry = entries.get(parent[1]) if len(parent) == 2 and isinstance(entries, Mapping) else None
        model = models.get(str(entry.get("kind"))) if isinstance(entry, Mapping) else None
        return model.model_fields.keys() if model else ()

    return known


def _parse(p: Path, raw: bytes) -> object:
    try:
        if p.suffix.lower() == ".json":
            return orjson.loads(raw)
        return yaml.safe_load(raw)
    except orjson.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise AuthConfigError(f"authorization file {p} is not valid JSON (at {where})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (at line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise AuthConfigError(f"authorization file {p} is not valid YAML{where}") from None


def to_file_entry(auth: AnyAuthorization) -> dict[str, object]:
    """One authorization as it is written to the file, **secrets in clear** (for ``tikstream auth login``)."""
    entry = auth.model_dump(exclude_none=True)
    for key, value in entry.items():
        if isinstance(value, SecretStr):
            entry[key] = value.get_secret_value()
        elif isinstance(value, tuple):
            entry[key] = list(value)
    return entry


def check_job_auth(job: AnyJob, authorizations: Mapping[str, AnyAuthorization]) -> list[FieldError]:
    """Why ``job`` cannot use its authorization (empty when it can): missing, wrong kind, wrong scope."""
    auth = authorizations.get(job.auth)
    if auth is None:
        return [FieldError("auth", f"no authorization named {job.auth!r} in the authorization file")]
    wrong_kind = _kind_error(job.type, job.auth, auth)
    return [wrong_kind] if wrong_kind is not None else _scope_errors(job, auth)


def check_document_auth(doc: Mapping[str, object], authorizations: Mapping[str, AnyAuthorization]) -> list[FieldError]:
    """The authorization checks of a job document that did not validate, those that need only its ``auth`` and
    ``type``: the authorization is missing, or of a kind the type does not accept. So that ``jobs validate``
    and ``jobs apply`` report them beside the job's other errors."""
    name, job_type = doc.get("auth"), doc.get("type")
    if not isinstance(name, str):
        return []
    auth = authorizations.get(name)
    if auth is None:
        return [FieldError("auth", f"no authorization named {name!r} in the authorization file")]
    wrong_kind = _kind_error(job_type, name, auth) if isinstance(job_type, str) else None
    return [wrong_kind] if wrong_kind is not None else []


def _kind_error(job_type: str, name: str, auth: AnyAuthorization) -> FieldError | None:
    accepted = ACCEPTED_KINDS.get(job_type)
    if accepted is None or auth.kind in accepted:
        return None
    need = " or ".join(f"{_article(kind)} {kind}" for kind in accepted)
    return FieldError("auth", f"{name!r} is {_article(auth.kind)} {auth.kind}; "
                              f"{_article(job_type)} {job_type} job needs {need}")


def _article(word: str) -> str:
    """``a`` or ``an`` before ``word`` (by its first letter: every kind and type name is lower-case ASCII)."""
    return "an" if word[:1] in "aeiou" else "a"


def _scope_errors(job: AnyJob, auth: AnyAuthorization) -> list[FieldError]:
    name = repr(job.auth)
    if isinstance(job, CrmEventsJob) and isinstance(auth, EventsToken):
        if auth.event_set_id != job.event_set_id:
            scope = f"is for event set {auth.event_set_id}" if auth.event_set_id else "names no event_set_id"
            why = (f"{name} {scope}: a crm_events job takes an events_token scoped to its event set "
                   f"(event_set_id: '{job.event_set_id}') or a tiktok_signin")
            return [FieldError("auth", why)]
    elif isinstance(auth, OfflineToken) and isinstance(job, OfflineEventsJob):
        if auth.event_set_id != job.event_set_id:
            why = f"{name} is for event set {auth.event_set_id}, not {job.event_set_id}"
            return [FieldError("auth", why)]
    elif isinstance(auth, EventsToken) and (auth.pixel_code or auth.app_id or auth.event_set_id):
        scope = (f"pixel {auth.pixel_code}" if auth.pixel_code else
                 f"app {auth.app_id}" if auth.app_id else f"crm event set {auth.event_set_id}")
        covered = (isinstance(job, WebEventsJob) and auth.pixel_code == job.pixel_code) or (
            isinstance(job, AppEventsJob) and auth.app_id == job.app_id
        )
        if not covered:
            return [FieldError("auth", f"{name} is an events_token for {scope} only")]
    elif isinstance(auth, TikTokSignin) and isinstance(job, AudienceExportJob):
        allowed = auth.advertiser_ids
        if allowed is not None and job.advertiser_id not in allowed:
            return [FieldError("advertiser_id", f"{name} may not manage advertiser {job.advertiser_id}")]
    return []


class AuthStore:
    """The authorization file, re-read when it changes, so a fixed token resumes a job without a restart.

    ``refresh()`` is cheap to call often: it looks at the file at most once per ``min_interval`` seconds
    of ``clock``, and reads it only when its (mtime, size, inode) changed, or ``max_age`` seconds after the
    last read (a safety net for file systems with coarse mtimes). A file that becomes missing or invalid
    does not wipe anything: the last good authorizations stay in use and ``last_error`` says why.

    Thread-safe: ``get`` and ``snapshot`` read an immutable mapping that ``refresh`` swaps in one step.
    Not guaranteed: a change is seen only at the next ``refresh`` after ``min_interval``.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Callable[[], float] = time.monotonic,
        min_interval: float = 1.0,
        max_age: float = 60.0,
        required: bool = True,
    ) -> None:
        """Read the file once. With ``required`` (the default) a file that cannot be used raises
        ``AuthConfigError``; without, the store starts empty with ``last_error`` set."""
        self.path = Path(path)
        self._clock = clock
        self._min_interval = min_interval
        self._max_age = max_age
        self._lock = threading.Lock()
        self._auths: Mapping[str, AnyAuthorization] = MappingProxyType({})
        self._stamp: tuple[int, int, int] | None = None
        self._checked_at = self._read_at = clock()
        self.version = 0
        """Grows by one each time the authorizations change."""
        self.last_error: AuthConfigError | None = None
        self._reload()
        if required and self.last_error is not None:
            raise self.last_error

    def get(self, name: str) -> AnyAuthorization | None:
        return self._auths.get(name)

    def snapshot(self) -> Mapping[str, AnyAuthorization]:
        """Every authorization, as an immutable mapping (for ``check_job_auth``)."""
        return self._auths

    def redact(self, text: str) -> str:
        """``text`` with every secret of the file (tokens, app secrets) replaced by ``****``: for error texts
        that leave the process (``/healthz``, logs)."""
        for auth in self._auths.values():
            for value in (auth.access_token, getattr(auth, "secret", None)):
                if value is not None and value.get_secret_value():
                    text = text.replace(value.get_secret_value(), "****")
        return text

    def refresh(self) -> bool:
        """Re-read the file if it changed; True when the authorizations changed."""
        now = self._clock()
        if now - self._checked_at < self._min_interval:
            return False
        with self._lock:
            self._checked_at = now
            if self._file_stamp() == self._stamp and now - self._read_at < self._max_age:
                return False
            return self._reload()

    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _reload(self) -> bool:
        self._stamp = self._file_stamp()
        self._read_at = self._clock()
        try:
            auths = load_authorizations(self.path)
        except AuthConfigError as exc:
            if self.last_error is None or str(exc) != str(self.last_error):
                extra = {"path": str(self.path), "error": str(exc)}
                log.warning("authorization file unusable; keeping the previous authorizations", extra=extra)
            self.last_error = exc
            return False
        self.last_error = None
        if auths == dict(self._auths):
            return False
        self._auths = MappingProxyType(auths)
        self.version += 1
        log.info("authorizations loaded", extra={"path": str(self.path), "names": sorted(auths)})
        return True


class TokenResolver:
    """The access token of one job, from the store, checked for kind and scope (``check_job_auth``) the
    same way ``jobs apply`` checks it: the one place a sink gets a token from.

    The check is redone only when the store hands out a different authorization (they are immutable).
    Thread-safe in the way the store is: a caller sees the authorization of one reading of the file.
    """

    def __init__(self, job: AnyJob, store: AuthStore | None) -> None:
        self._job = job
        self._store = store
        self._checked: object = None  # the authorization object last checked
        self._problem: str | None = "not checked"

    def current(self) -> AnyAuthorization | None:
        return self._store.get(self._job.auth) if self._store is not None else None

    def refresh(self) -> None:
        """Let the store re-read the file if it changed (cheap: the store rate-limits itself)."""
        if self._store is not None:
            self._store.refresh()

    def token(self) -> tuple[str | None, str | None]:
        """``(token, None)`` when the job has a usable authorization, else ``(None, why)``. The reason names
        the authorization and the job's fields, never a credential."""
        auth = self.current()
        if auth is None:
            return None, f"no authorization named {self._job.auth!r} in the authorization file"
        if auth is not self._checked:
            errors = check_job_auth(self._job, {self._job.auth: auth})
            self._checked, self._problem = auth, ("; ".join(map(str, errors)) or None)
        if self._problem is not None:
            return None, self._problem
        return auth.access_token.get_secret_value(), None

    def require(self) -> str:
        """The token; raises ``AuthConfigError`` with the reason when there is no usable one."""
        token, problem = self.token()
        if token is None:
            raise AuthConfigError(problem or "no usable authorization")
        return token
