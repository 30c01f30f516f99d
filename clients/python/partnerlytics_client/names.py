"""The SDK's names for the API's values (the argument types of both clients' methods)
and the map from each operation of docs/openapi.json to its method."""

from __future__ import annotations

import datetime as dt
from typing import Literal

DateLike = dt.date | dt.datetime
InstanceTimeFrame = Literal["hour", "day", "custom"]
CampaignTimeFrame = Literal["per_hour", "per_day", "per_month", "custom_range"]
AffiliateFeed = Literal["recent_clicks", "recent_conversions", "recent_events"]
AffiliateSection = Literal["stats", "trends", "charts", "tables", AffiliateFeed]
VoucherInterval = Literal["day", "week", "month"]
VoucherMetric = Literal["uses", "discount", "orders", "conversion_rate", "avg_order_value"]
ExportMetric = Literal["uses", "discount", "orders", "conversion_rate", "avg_order_value", "revenue_impact",
                       "unique_customers"]
ExportFormat = Literal["csv", "json", "xlsx"]
ExportSource = Literal["instance_journeys", "campaign_instances", "voucher_redemptions", "affiliate_events",
                       "affiliate_conversions", "landing_events"]
FileFormat = Literal["csv", "jsonl", "xlsx", "parquet"]
ExportStatus = Literal["queued", "processing", "completed", "failed", "expired"]
# The event types an endpoint can subscribe to (docs/webhooks.md, "Events").
WebhookEventType = Literal["affiliate.conversion.recorded", "voucher.redeemed", "instance.purchased",
                           "export.completed", "export.failed"]
LandingEventType = Literal["pageview", "click_whatsapp", "click_call", "click_toggle_currency", "time_on_page",
                           "qr_scan", "product_click"]

# operationId (docs/openapi.json) -> the method of both clients; tests/sdk/test_sdk_python.py
# fails when an operation of the spec has none, or when a method misses a parameter.
OPERATION_METHODS = {
    "ListInstanceAnalytics": "list_instance_analytics",
    "GetInstanceDetails": "get_instance_details",
    "GetCampaignAnalytics": "get_campaign_analytics",
    "GetAffiliateAnalytics": "get_affiliate_analytics",
    "UpsertAffiliates": "upsert_affiliates",
    "CreateTrackingCodes": "create_tracking_codes",
    "UpsertProducts": "upsert_products",
    "RecordEvents": "record_events",
    "RecordConversions": "record_conversions",
    "GetVoucherPerformance": "get_voucher_performance",
    "GetVoucherTrends": "get_voucher_trends",
    "GetVoucherCustomers": "get_voucher_customers",
    "CreateExport": "create_export",
    "GetExport": "get_export",
    "DownloadExport": "download_export",
    "TrackEvent": "track_event",
    "GetAnalytics": "get_landing_analytics",
    "GetTodayAnalytics": "get_landing_today",
    "GetTrackerJs": "get_tracker_js",
    "GetOpenApiDocument": "get_openapi_document",
    "CreateSession": "create_session",
    "RevokeSession": "revoke_session",
    "CreateExportJob": "create_export_job",
    "GetExportJob": "get_export_job",
    "ListExportJobs": "list_export_jobs",
    "DownloadExportJob": "download_export_job",
    "CreateWebhookEndpoint": "create_webhook_endpoint",
    "ListWebhookEndpoints": "list_webhook_endpoints",
    "GetWebhookEndpoint": "get_webhook_endpoint",
    "UpdateWebhookEndpoint": "update_webhook_endpoint",
    "DeleteWebhookEndpoint": "delete_webhook_endpoint",
    "RotateWebhookEndpointSecret": "rotate_webhook_endpoint_secret",
    "SendTestWebhookEvent": "send_test_webhook_event",
    "ListWebhookDeliveries": "list_webhook_deliveries",
    "ReplayWebhookEvents": "replay_webhook_events",
}
# Spec parameter -> the method's argument, where a Python name differs.
PARAMETER_ALIASES = {"from": "from_date", "to": "to_date"}
