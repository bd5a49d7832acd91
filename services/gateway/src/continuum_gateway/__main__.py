from continuum.runtime import run_service
from continuum_gateway.service import GatewayService

run_service(GatewayService)
