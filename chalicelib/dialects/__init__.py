"""Alert formats: the relay's own, OpenAlgo's API, TradersPost's signals, PineConnector-style
text. Each maps its body onto the one alert model (chalicelib/alerts.py): no second order path.

    read_alert(raw body, route) → Reading: the format, the secret it claims, then .alert()
    openalgo.respond / openalgo.error_answer: the relay's answer in OpenAlgo's shape
"""

from chalicelib.dialects.base import Format, Reading
from chalicelib.dialects.detect import AmbiguousFormat, read_alert

__all__ = ["AmbiguousFormat", "Format", "Reading", "read_alert"]
