"""Test support: real-server fixtures (a pytest plugin) and contract suites."""
