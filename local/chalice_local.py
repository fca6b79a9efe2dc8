"""`chalice local`, with a listen backlog sized for alert bursts.

Chalice's local server keeps the standard library's backlog of 5 pending connections, so a
burst of concurrent alerts (which TradingView can send) gets connection resets before the app
sees it. API Gateway has no such limit; the local stack should not invent one.
"""

from __future__ import annotations

import sys

from chalice import local
from chalice.cli import main

local.ThreadedHTTPServer.request_queue_size = 128

if __name__ == "__main__":
    sys.argv[0] = "chalice"
    sys.exit(main())
