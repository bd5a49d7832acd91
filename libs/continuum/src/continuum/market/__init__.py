"""The genome marketplace's domain (no I/O): money in integer minor units
and a double-entry ledger (``ledger``), usage splits with royalties up a
fork lineage (``splits``), signed offers, orders, usage reports and ratings
(``documents``), the market's state folded from its log (``book``),
reputation that a ring of fresh identities cannot lift (``reputation``),
demand pricing (``pricing``), and the ledger's journal on the event log
(``journal``, the one module that touches a store)."""
