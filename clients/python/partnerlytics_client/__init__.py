"""Partnerlytics' Python SDK: typed REST clients (sync and async) and a thin gRPC client.

    from partnerlytics_client import Client
    with Client("sk_test_...", base_url="http://127.0.0.1:8080") as api:
        for row in api.iter_instance_analytics(time_frame="day"):
            print(row.instance_id, row.is_purchase)
"""

from . import _generated as models
from ._transport import RetryPolicy
from .client import AsyncClient, Client, ExportFile
from .errors import (
    AffiliateApiError,
    ApiError,
    ExportsApiError,
    LandingApiError,
    PartnerApiError,
    PartnerlyticsError,
    ResourceApiError,
    VoucherApiError,
    WebhooksApiError,
)
from .names import OPERATION_METHODS
from .webhooks import verify_signature

__version__ = "0.1.0"

__all__ = [
    "OPERATION_METHODS",
    "AffiliateApiError",
    "ApiError",
    "AsyncClient",
    "Client",
    "ExportFile",
    "ExportsApiError",
    "LandingApiError",
    "PartnerApiError",
    "PartnerlyticsError",
    "ResourceApiError",
    "RetryPolicy",
    "VoucherApiError",
    "WebhooksApiError",
    "models",
    "verify_signature",
]
