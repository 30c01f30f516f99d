"""Every family's export sources, by name: each family declares its own in
`services/<family>/export_rows.py` (platform_core/export_sources.py says how); this is
the one list of them, one line per family."""

from __future__ import annotations

from platform_core.export_sources import ExportSource
from services.affiliate.export_rows import SOURCES as AFFILIATE
from services.campaign.export_rows import SOURCES as CAMPAIGN
from services.instance.export_rows import SOURCES as INSTANCE
from services.landing.export_rows import SOURCES as LANDING
from services.voucher.export_rows import SOURCES as VOUCHER

SOURCES: dict[str, ExportSource] = {s.name: s for s in (*INSTANCE, *CAMPAIGN, *VOUCHER, *AFFILIATE, *LANDING)}
