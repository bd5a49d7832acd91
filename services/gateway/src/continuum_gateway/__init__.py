"""Continuum gateway: the node's event ingress and its event-log read model.

This issue's gateway speaks NATS only (the event-log projection and its
query endpoints); the HTTP API arrives with the gateway issue.
"""
