"""The marketplace: layer listings, wallets, per-use royalties, reputation."""
