"""Job configs (docs/architecture.md §4) as frozen pydantic models, one per job type, unioned on ``type``.

Validation happens once, at the edge (``tikstream jobs validate/apply`` and the config-topic registry); the
rest of tikstream trusts a ``Job``. Unknown fields are rejected, so a typo never silently does nothing.
``parse_job`` turns pydantic errors into field-by-field ``FieldError``s.

The dict fields (``identifiers``, ``properties``) are plain dicts inside a frozen model: treat them as
read-only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Final, Literal

import orjson
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.json_schema import DefsRef, GenerateJsonSchema, JsonRef, JsonSchemaMode, JsonSchemaValue
from pydantic_core import CoreSchema

from tikstream.errors import FieldError, JobConfigError
from tikstream.jobs.field_errors import KnownFields, field_errors
from tikstream.jobs.fields import (
    APP_STANDARD_EVENTS,
    LEAD_SOURCE_PATTERN,
    MAX_PATHS_PER_CALCULATE_TYPE,
    PIXEL_CODE_PATTERN,
    PREFIX_PATTERN,
    STORE_APP_ID_PATTERN,
    TEST_EVENT_CODE_PATTERN,
    WEB_STANDARD_EVENTS,
    CalculateType,
    DeviceIdPolicy,
    PhonePolicy,
    TriggerEvent,
    check_event_name,
)
from tikstream.jobs.maps import (
    MAP_DEFS,
    AppIdentifiers,
    CrmIdentifiers,
    OfflineIdentifiers,
    Properties,
    WebIdentifiers,
    WebProperties,
)
from tikstream.jobs.types import PATTERNS, AuthName, Digits, EventName, JobId, PhoneRegion, RecordPath, Slug

EVENT_ID_FIELD_TEXT = (
    "Record path of the event's `event_id` (sent as a string); unset, or empty in a record: an id derived from "
    "the job, user, audience, enter/exit and trigger time. Use the id your Pixel or SDK sends for the same "
    "event (e.g. the order id), so that TikTok deduplicates the two (see Deduplication below)."
)
PHONE_POLICY_TEXT = (
    "Which phones are sent: `valid` (libphonenumber calls the number valid), `possible` (a possible length "
    "for its country; more numbers kept, formatted E.164) or `e164` ('+' and the digits as written, as the "
    "peers do). Before this field existed tikstream behaved as `valid` (see Phone policy below)."
)
DEVICE_ID_POLICY_TEXT = (
    "Which `idfa`/`gaid` values are sent: `uuid` (a dashed UUID, not all zeros) or `any` (any non-empty value "
    "but the all-zero id, trimmed and lower-cased, as the peers do)."
)

DELIVERY_TEXT = (
    "`file`: customer files uploaded, then APPEND/REMOVE in batches (`flush_*`). `streaming`: a segment "
    "audience kept in step through `/segment/mapping/` add/delete requests (`stream_*`), within seconds."
)
STREAM_TEXT = (
    "With `delivery: streaming`: a request is sent at `stream_batch_max` users or `stream_linger_ms` after "
    "its first trigger, whichever comes first."
)
STREAM_OPTIONS: Final = frozenset({"stream_batch_max", "stream_linger_ms"})
FILE_OPTIONS: Final = frozenset({"flush_interval_seconds", "flush_max_bytes", "flush_max_users", "retention_in_days"})


def _duplicates(values: list[str]) -> list[str]:
    return sorted(v for v, n in Counter(values).items() if n > 1)


class _Job(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: JobId
    type: str
    auth: AuthName
    label: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    description: Annotated[str, Field(max_length=4000)] | None = None
    enabled: StrictBool = True
    created_at: AwareDatetime | None = Field(
        default=None,
        description="Set by `tikstream jobs apply` at first publish and kept by later versions; the job "
        "acts on triggers produced after it.",
    )


class AudienceExportJob(_Job):
    """Keep a TikTok customer-file audience in step with one audience (docs/architecture.md §4.1)."""

    type: Literal["audience_export"]
    audience: Slug
    advertiser_id: Digits
    identifiers: Annotated[dict[RecordPath, CalculateType], Field(min_length=1)]
    delivery: Annotated[Literal["file", "streaming"], Field(description=DELIVERY_TEXT)] = "file"
    existing_users: StrictBool = False
    audience_name_prefix: Annotated[str, Field(pattern=PREFIX_PATTERN)] = "tikstream"
    retention_in_days: Annotated[StrictInt, Field(ge=1, le=365)] | None = None
    default_phone_region: PhoneRegion | None = None
    flush_interval_seconds: Annotated[StrictInt, Field(ge=1, le=86_400)] = 3600
    flush_max_bytes: Annotated[StrictInt, Field(ge=1024, le=1_000_000_000)] = 250_000_000
    flush_max_users: Annotated[StrictInt, Field(ge=1, le=10_000_000)] = 500_000
    stream_batch_max: Annotated[StrictInt, Field(ge=1, le=10_000, description=STREAM_TEXT)] = 1000
    stream_linger_ms: Annotated[StrictInt, Field(ge=0, le=3_600_000, description=STREAM_TEXT)] = 1000

    @field_validator(*sorted(FILE_OPTIONS | STREAM_OPTIONS))
    @classmethod
    def _delivery_options(cls, value: object, info: ValidationInfo) -> object:
        """An option of the other delivery, set to other than its default, would silently do nothing (defaults
        pass, so a job dumped with every field parses again)."""
        delivery = info.data.get("delivery", "file")
        field = str(info.field_name)
        wanted = "streaming" if field in STREAM_OPTIONS else "file"
        if delivery != wanted and value != cls.model_fields[field].default:
            raise ValueError(f"{value!r} has no effect: {field} only applies when delivery is {wanted!r}, "
                             f"and delivery is {delivery!r}")
        return value

    @property
    def audiences(self) -> tuple[str, ...]:
        """The audiences the job listens to, as every job model has them: its one audience."""
        return (self.audience,)

    @property
    def triggers(self) -> tuple[TriggerEvent, ...]:
        """The trigger kinds the job takes: both (an enter adds the user, an exit removes them)."""
        return ("enter", "exit")

    @field_validator("identifiers")
    @classmethod
    def _types_per_file(cls, value: dict[str, str]) -> dict[str, str]:
        counts = Counter(value.values())
        over = sorted(t for t, n in counts.items() if n > MAX_PATHS_PER_CALCULATE_TYPE)
        if over:
            raise ValueError(
                f"at most {MAX_PATHS_PER_CALCULATE_TYPE} paths per calculate type; too many for: "
                + ", ".join(over)
            )
        return value


class _EventsJob(_Job):
    SOURCE: ClassVar[str]

    audiences: Annotated[tuple[Slug, ...], Field(min_length=1, max_length=100)]
    triggers: Annotated[tuple[TriggerEvent, ...], Field(min_length=1, max_length=2)] = ("enter",)
    event_name: EventName
    event_time_field: RecordPath | None = None
    event_id_field: Annotated[RecordPath | None, Field(description=EVENT_ID_FIELD_TEXT)] = None
    properties: Properties = Field(default_factory=dict)
    test_event_code: Annotated[str, Field(pattern=TEST_EVENT_CODE_PATTERN)] | None = None
    limited_data_use: StrictBool = False
    default_phone_region: PhoneRegion | None = None
    phone_policy: Annotated[PhonePolicy, Field(description=PHONE_POLICY_TEXT)] = "possible"
    batch_max_events: Annotated[StrictInt, Field(ge=1, le=1000)] = 1000
    linger_ms: Annotated[StrictInt, Field(ge=0, le=60_000)] = 200

    @field_validator("audiences", "triggers")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        dup = _duplicates(list(value))
        if dup:
            raise ValueError("listed more than once: " + ", ".join(dup))
        return value

    @field_validator("event_name")
    @classmethod
    def _event_name(cls, value: str) -> str:
        problem = check_event_name(cls.SOURCE, value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("phone_policy")
    @classmethod
    def _region_has_an_effect(cls, value: str, info: ValidationInfo) -> str:
        region = info.data.get("default_phone_region")
        if value == "e164" and region is not None:
            raise ValueError(f"'e164' hashes '+' and the digits as written, so default_phone_region {region!r} "
                             "would have no effect: remove one of the two")
        return value

    @property
    def source(self) -> str:
        """The Events API ``event_source``: ``web``, ``app`` or ``offline``."""
        return self.SOURCE


def _events_examples(names: frozenset[str]) -> dict[str, object]:
    return {"examples": sorted(names)}


class AppEventsJob(_EventsJob):
    """Send an app event to Events API 2.0 for each matching trigger (docs/architecture.md §4.2)."""

    SOURCE: ClassVar[str] = "app"
    type: Literal["app_events"]
    event_name: Annotated[EventName, Field(json_schema_extra=_events_examples(APP_STANDARD_EVENTS))]
    identifiers: AppIdentifiers
    device_id_policy: Annotated[DeviceIdPolicy, Field(description=DEVICE_ID_POLICY_TEXT)] = "uuid"
    app_id: Annotated[Digits, Field(description="TikTok App ID, sent as event_source_id.")]
    app_name: Annotated[str, Field(min_length=1, max_length=128)]
    app_version_field: RecordPath | None = None
    store_app_id: Annotated[str, Field(pattern=STORE_APP_ID_PATTERN)] | None = None

    @property
    def event_source_id(self) -> str:
        return self.app_id


class WebEventsJob(_EventsJob):
    """Send a web (pixel) event to Events API 2.0 for each matching trigger (docs/architecture.md §4.2)."""

    SOURCE: ClassVar[str] = "web"
    type: Literal["web_events"]
    event_name: Annotated[EventName, Field(json_schema_extra=_events_examples(WEB_STANDARD_EVENTS))]
    identifiers: WebIdentifiers
    properties: WebProperties = Field(default_factory=dict)
    pixel_code: Annotated[str, Field(pattern=PIXEL_CODE_PATTERN)]
    page_url_field: RecordPath
    page_referrer_field: RecordPath | None = None

    @property
    def event_source_id(self) -> str:
        return self.pixel_code


class OfflineEventsJob(_EventsJob):
    """Send an offline event to Events API 2.0 for each matching trigger (docs/architecture.md §4.2)."""

    SOURCE: ClassVar[str] = "offline"
    type: Literal["offline_events"]
    event_name: Annotated[EventName, Field(json_schema_extra={"enum": sorted(WEB_STANDARD_EVENTS)})]
    identifiers: OfflineIdentifiers
    event_set_id: Digits

    @property
    def event_source_id(self) -> str:
        return self.event_set_id


LEAD_ID_FIELD_TEXT = (
    "Record path of the lead id, sent as `lead.lead_id` (a string; a number in decimal). A trigger without one "
    "is dead-lettered (`error_class=missing_lead_id`): TikTok requires it on crm events."
)


class CrmEventsJob(_EventsJob):
    """Send a CRM event (a lead's progress) to Events API 2.0 per matching trigger (docs/architecture.md §4.2)."""

    SOURCE: ClassVar[str] = "crm"
    type: Literal["crm_events"]
    event_name: Annotated[EventName, Field(json_schema_extra=_events_examples(WEB_STANDARD_EVENTS))]
    identifiers: CrmIdentifiers
    event_set_id: Annotated[Digits, Field(description="The CRM event set id, sent as event_source_id.")]
    lead_id_field: Annotated[RecordPath, Field(description=LEAD_ID_FIELD_TEXT)]
    lead_event_source: Annotated[str, Field(
        pattern=LEAD_SOURCE_PATTERN,
        description="The CRM's name, sent as `lead.lead_event_source` on every event, e.g. 'HubSpot'.",
    )]

    @property
    def event_source_id(self) -> str:
        return self.event_set_id


EventsJob = AppEventsJob | WebEventsJob | OfflineEventsJob | CrmEventsJob
AnyJob = AudienceExportJob | AppEventsJob | WebEventsJob | OfflineEventsJob | CrmEventsJob
Job = Annotated[AnyJob, Field(discriminator="type")]


class _JobSchema(GenerateJsonSchema):
    """Adds the definitions the ``identifiers`` and ``properties`` maps refer to (``tikstream.jobs.maps``)."""

    def generate(self, schema: CoreSchema, mode: JsonSchemaMode = "validation") -> JsonSchemaValue:
        for name, definition in MAP_DEFS.items():
            self.definitions[DefsRef(name)] = definition
            self.json_to_defs_refs[JsonRef(f"#/$defs/{name}")] = DefsRef(name)
            self._prioritized_defsref_choices[DefsRef(name)] = [DefsRef(name)]
        return super().generate(schema, mode)


class JobAdapter:
    """The discriminated union of the job models (a pydantic ``TypeAdapter``), whose JSON Schema carries the
    definitions the ``identifiers`` and ``properties`` maps refer to."""

    def __init__(self) -> None:
        self._adapter: TypeAdapter[AnyJob] = TypeAdapter(Job)

    def validate_python(self, obj: object) -> AnyJob:
        return self._adapter.validate_python(obj)

    def json_schema(self) -> dict[str, Any]:
        return self._adapter.json_schema(schema_generator=_JobSchema)


JOB_ADAPTER: Final = JobAdapter()

JOB_MODELS: dict[str, type[AnyJob]] = {
    "audience_export": AudienceExportJob,
    "app_events": AppEventsJob,
    "web_events": WebEventsJob,
    "offline_events": OfflineEventsJob,
    "crm_events": CrmEventsJob,
}
"""Job type name → model; the keys are the values of ``type``."""


def parse_job(data: Mapping[str, object] | bytes | str) -> AnyJob:
    """Validate one job from a decoded object or from JSON text (a config-topic value).

    Raises ``JobConfigError(job_id, errors)``; ``job_id`` is the document's ``id`` when it has a string one.
    """
    obj: object = data
    if isinstance(data, bytes | str):
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise JobConfigError(None, [FieldError("", f"not valid JSON: {exc}")]) from None
    if not isinstance(obj, Mapping):
        raise JobConfigError(None, [FieldError("", "a job must be a JSON object")])
    try:
        return JOB_ADAPTER.validate_python(obj)
    except ValidationError as exc:
        job_id = obj.get("id")
        errors = field_errors(
            exc, patterns=PATTERNS, tag_at=0, tags=list(JOB_MODELS), known_fields=_known_fields(obj),
            show_values=True,
        )
        raise JobConfigError(job_id if isinstance(job_id, str) else None, errors) from None


def _known_fields(obj: Mapping[str, object]) -> KnownFields:
    model = JOB_MODELS.get(str(obj.get("type")))
    names = set(model.model_fields) if model else {n for m in JOB_MODELS.values() for n in m.model_fields}
    return lambda parent: () if parent else names


def job_to_json(job: AnyJob) -> bytes:
    """The JSON published on the config topic: every field, defaults included, ``None`` left out.

    ``parse_job(job_to_json(job)) == job`` for every valid job.
    """
    return orjson.dumps(job.model_dump(mode="json", exclude_none=True))
