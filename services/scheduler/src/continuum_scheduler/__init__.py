"""The ThoughtStream scheduler service."""
