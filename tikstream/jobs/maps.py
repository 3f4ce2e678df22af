"""The pydantic types of the ``identifiers`` and ``properties`` maps of events jobs (``tikstream.jobs.sources``).

Each is a plain ``dict`` at run time, checked by ``validate_map`` and described in the JSON Schema by
``map_schema``, from the target tables of ``tikstream.jobs.targets``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Annotated, Any

from pydantic import PlainValidator, WithJsonSchema

from tikstream.jobs.sources import map_schema, schema_defs, validate_map
from tikstream.jobs.targets import APP_USER_TARGETS, OFFLINE_USER_TARGETS, PROPERTY_TARGETS, WEB_USER_TARGETS, Kind

__all__ = ["MAP_DEFS", "AppIdentifiers", "CrmIdentifiers", "OfflineIdentifiers", "Properties", "WebIdentifiers",
           "WebProperties"]

_IDENTIFIERS = (
    "TikTok `user` fields and where their values come from: `\"<record path>\": \"<field>\"`, or "
    "`\"<field>\": <source>` with a source of `\"<record path>\"`, `{\"const\": v}`, `{\"path\": p, "
    "\"default\": v}`{url}. Raw values are normalised and hashed as TikTok documents; values that already are a "
    "hash of the right kind pass through."
)
_PROPERTIES = (
    "TikTok `properties` fields and where their values come from: `\"<record path>\": \"<field>\"`, or "
    "`\"<field>\": <source>` with a source of `\"<record path>\"`, `{\"const\": v}`, `{\"path\": p, "
    "\"default\": v}`, `{\"derive\": \"count\" | \"sum_quantity\"}` (num_items) or `{\"derive\": "
    "\"sum_price_quantity\"}` (value), computed from `contents`{url}. Includes the travel and vehicle fields."
)
_URL = ", or `{\"url_param\": name, \"path\": p, \"default\": v}` (a query parameter of the page URL)"


def _map(targets: Mapping[str, Kind], what: str, text: str, *, min_entries: int = 0, url: bool = False) -> Any:
    description = text.replace("{url}", _URL if url else "")
    check = partial(validate_map, what=what, targets=targets, min_entries=min_entries, url_params=url)
    schema = map_schema(targets, description=description, min_entries=min_entries, url_params=url)
    return Annotated[dict[str, Any], PlainValidator(check), WithJsonSchema(schema)]


WebIdentifiers = _map(WEB_USER_TARGETS, "a TikTok user field of web events", _IDENTIFIERS, min_entries=1, url=True)
AppIdentifiers = _map(APP_USER_TARGETS, "a TikTok user field of app events", _IDENTIFIERS, min_entries=1)
OfflineIdentifiers = _map(OFFLINE_USER_TARGETS, "a TikTok user field of offline events", _IDENTIFIERS,
                          min_entries=1)
CrmIdentifiers = _map(OFFLINE_USER_TARGETS, "a TikTok user field of crm events", _IDENTIFIERS, min_entries=1)
Properties = _map(PROPERTY_TARGETS, "a TikTok properties field", _PROPERTIES)
WebProperties = _map(PROPERTY_TARGETS, "a TikTok properties field", _PROPERTIES, url=True)

_ALL_KINDS = {kind.name: kind for kind in (*WEB_USER_TARGETS.values(), *APP_USER_TARGETS.values(),
                                           *PROPERTY_TARGETS.values())}
MAP_DEFS: dict[str, Any] = schema_defs(
    _ALL_KINDS.values(), {t: PROPERTY_TARGETS[t] for t in ("num_items", "value")}
)
"""The ``$defs`` the maps' schemas refer to; the job adapter adds them to the job schema."""
