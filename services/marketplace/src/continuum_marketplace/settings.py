"""marketplace settings: ``CONTINUUM_MARKET_*``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MarketSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONTINUUM_MARKET_", extra="ignore")

    #: The platform's share of every payment, in basis points (1000 = 10%).
    platform_bp: int = Field(default=1_000, ge=0, le=10_000)
    #: The share of a creator's part paid up the fork lineage, in basis points.
    royalty_bp: int = Field(default=2_000, ge=0, le=10_000)
    #: Search ranking: weights of similarity, reputation and (cheapness of) price.
    rank_similarity: float = Field(default=0.6, ge=0.0, le=1.0)
    rank_reputation: float = Field(default=0.3, ge=0.0, le=1.0)
    rank_price: float = Field(default=0.1, ge=0.0, le=1.0)
