"""The call-record contract: schema, price catalog, tiers, durable CSV store and manifest.

Imports nothing else of revenium-flow; everything else imports this.
"""

from metering.prices import Catalog, CatalogError, Price, load_catalog
from metering.schema import COLUMN_NAMES, COLUMNS, SEED_COLUMN_NAMES, Problem, validate_record
from metering.tiers import Tier, load_tiers, tier_prices

__all__ = [
    "COLUMNS",
    "COLUMN_NAMES",
    "SEED_COLUMN_NAMES",
    "Catalog",
    "CatalogError",
    "Price",
    "Problem",
    "Tier",
    "load_catalog",
    "load_tiers",
    "tier_prices",
    "validate_record",
]
