"""Test doubles for the remote inference servers that cannot run here."""
