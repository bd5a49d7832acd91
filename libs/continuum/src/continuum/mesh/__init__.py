"""The mesh: nodes joined by NATS leaf nodes, signed adverts, routing, sealing.

This package is the mesh's domain (no I/O): keys, adverts, sealed envelopes,
the peer table and the router's score. The gateway's mesh agent is the
adapter that moves these over NATS.
"""
