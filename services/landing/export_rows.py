"""The landing family's export source (docs/exports.md, "landing_events"): one tenant's
tracked events, oldest first. A visitor appears only as its daily salted hash (the
tracker never stores an IP address); the user agent is left out too."""

from __future__ import annotations

from platform_core.export_sources import Column, ExportSource, Filter
from services.landing.store import COLUMNS as EVENT_TYPE_NAMES

# The stored EventType numbers -> their documented names, as a SQL CASE.
_EVENT_TYPE = "CASE e.event_type " + " ".join(
    f"WHEN {number} THEN '{name}'" for number, name in sorted(EVENT_TYPE_NAMES.items())) + " END"

# The event type filter: a name -> its stored number, through a jsonb object.
_NUMBERS = "jsonb_build_object(" + ", ".join(
    f"'{name}', {number}" for number, name in sorted(EVENT_TYPE_NAMES.items())) + ")"
# landing_events has no mode column: the tenant carries it, so the tenant is checked
# against the account and mode too.
_WHERE = f"""
WHERE e.account_id = %(account_id)s AND e.tenant_id = %(tenant_id)s
  AND EXISTS (SELECT 1 FROM landing_tenants t WHERE t.account_id = %(account_id)s AND t.livemode = %(livemode)s
              AND t.id = %(tenant_id)s)
  AND e.occurred_at >= %(start)s AND e.occurred_at < %(end)s
  AND (%(event_type)s::text IS NULL OR e.event_type = ({_NUMBERS} ->> %(event_type)s::text)::smallint)
"""

LANDING_EVENTS = ExportSource(
    name="landing_events",
    family="landing",
    description="One landing tenant's tracked events in the range, oldest first (visitor hashes, never an IP)",
    scope="analytics:read",
    columns=(
        Column("event_id", "integer", "the event's sequence number"),
        Column("occurred_at", "timestamp", "when it was tracked"),
        Column("event_type", "string", ", ".join(EVENT_TYPE_NAMES.values())),
        Column("visitor_hash", "string", "the visitor's salted daily hash (the IP address is never stored)"),
        Column("duration_ms", "integer", "time on page, for time_on_page events"),
        Column("referrer", "string", "the page's referrer"),
        Column("metadata", "json", "the event's metadata object (null when none)"),
    ),
    filters=(
        Filter("tenant_id", "integer", "the landing tenant (required)", required=True),
        Filter("event_type", "choice", "only events of this type", choices=tuple(EVENT_TYPE_NAMES.values())),
    ),
    query=f"""
SELECT e.id AS event_id, e.occurred_at, {_EVENT_TYPE} AS event_type, e.visitor_hash, e.duration_ms, e.referrer,
       e.metadata
FROM landing_events e
{_WHERE}
ORDER BY e.occurred_at, e.id
""",
    count_query=f"SELECT count(*) FROM landing_events e {_WHERE}",
    subjects=("visitor",),
)

SOURCES = (LANDING_EVENTS,)
