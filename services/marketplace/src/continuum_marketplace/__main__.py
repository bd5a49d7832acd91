from continuum.runtime import run_service
from continuum_marketplace.service import MarketplaceService

run_service(MarketplaceService)
