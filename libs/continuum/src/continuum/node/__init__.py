"""The node: embedded servers, supervised services, state and probes."""
