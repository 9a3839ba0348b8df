"""Alert delivery to the control centre's API: HMAC-signed, idempotent, retried, recorded."""

from sinks.alerts.delivery import AlertDelivery, alert_payload, sign
from sinks.alerts.store import Delivery, DeliveryStore

__all__ = ["AlertDelivery", "Delivery", "DeliveryStore", "alert_payload", "sign"]
