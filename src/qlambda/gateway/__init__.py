"""The gateway: the platform as a multi-user HTTP service (FastAPI on uvicorn)."""

from qlambda.gateway.app import create_app
from qlambda.gateway.settings import GatewaySettings

__all__ = ["GatewaySettings", "create_app"]
