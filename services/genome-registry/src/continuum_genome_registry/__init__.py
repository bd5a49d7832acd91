"""The genome-registry service: publishes, verifies, stores and searches layers."""
