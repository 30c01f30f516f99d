"""The hour walk: one page of a time window's rows, newest first, without counting or
skipping the window's raw rows (docs/architecture.md).

A window is cut into `top` (the partial hour at its end), the full hours, and `bottom`
(the partial hour at its start). The edges are counted from the raw rows' covering
index, the full hours from an exact hourly table. A deep page is found by walking the
hourly counts, newest first, to the hour that holds its first row (`target`), then
skipping at most that hour's rows: the page is read below `hi`, skipping `skip` rows.
A family's statement names its own tables and filters and uses these pieces with the
parameters of `walk_params` (:start, :end, :first, :last, :offset, :limit).
"""

from __future__ import annotations

from typing import Any

from platform_core.accounts import Principal
from platform_core.paging import PageRequest, Window


def target_cte(hourly: str, top_n: str) -> str:
    """The body of the `target` CTE: the hour holding the page's first row and how many
    rows the newer full hours hold (`before`). `hourly` selects (hour, n) over the full
    hours, one row an hour; `top_n` is the count of the `top` edge."""
    return f"""
  -- Newest hour first, streamed from the key's backward index-only scan; the scan stops
  -- at the hour whose running count passes the offset instead of sorting every hour.
  SELECT t.hour, t.before FROM top CROSS JOIN LATERAL (
    SELECT r.hour, r.upto - r.n AS before FROM (
      SELECT hour, n, sum(n) OVER (ORDER BY hour DESC) AS upto FROM (
        {hourly}
        ORDER BY hour DESC) AS h) AS r
    WHERE r.upto > :offset - {top_n} AND r.n > 0 ORDER BY r.hour DESC LIMIT 1) AS t
"""


def seek_columns(top_n: str, middle_n: str) -> str:
    """The `hi` and `skip` columns of the `seek` CTE (which reads top, middle and
    bottom): the page is the rows below `hi`, newest first, after skipping `skip`."""
    return f"""CASE WHEN :offset < {top_n} THEN CAST(:end AS timestamptz)
              ELSE coalesce((SELECT hour + interval '1 hour' FROM target), CAST(:first AS timestamptz)) END AS hi,
         CASE WHEN :offset < {top_n} THEN :offset
              ELSE :offset - {top_n} - coalesce((SELECT before FROM target), {middle_n}) END AS skip"""


def walk_params(who: Principal, window: Window, page: PageRequest, **extra: Any) -> dict[str, Any]:
    """The statement's parameters: the caller's account and mode, the window and its full
    hours (none: the whole window is `top`), and the page."""
    first, last = window.full_hours()
    if first >= last:  # no full hour: the whole window is "top"
        first = last = window.start
    return {
        "a": who.account_id, "l": who.livemode, **extra, "start": window.start, "end": window.end,
        "first": first, "last": last, "offset": page.offset, "limit": page.limit,
    }
