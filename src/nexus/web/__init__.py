"""The web skin: the Evolution Proof dashboard, its JSON, webhooks and /metrics.

app = create_app(settings, config, db, clock)   # a FastAPI app
serve(settings, host, port)                     # `nexus serve`
"""

from nexus.web.app import create_app
from nexus.web.serve import check_bind, is_loopback, serve

__all__ = ["check_bind", "create_app", "is_loopback", "serve"]
