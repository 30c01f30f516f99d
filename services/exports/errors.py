"""The export service's own errors (docs/exports.md, "Errors"). Their envelope is the
resource APIs' one, shared with the webhooks family (platform_core/resource_envelope.py):
`{"error": {"code", "message", "request_id", "fields"?, "details"?}}`.
"""

from __future__ import annotations

import grpc

from platform_core.errors import DomainError, error_class

# The service's own error; EXPORT_NOT_FOUND, EXPORT_NOT_READY and EXPORT_EXPIRED are the
# export queue's (platform_core/export_queue.py).
RangeNotSatisfiable = error_class("RangeNotSatisfiable", DomainError, grpc.StatusCode.OUT_OF_RANGE, 416,
                                  "RANGE_NOT_SATISFIABLE")
