"""The genome marketplace's domain: money in integer minor units, a
double-entry ledger, usage splits with royalties up a fork lineage (no I/O)."""
