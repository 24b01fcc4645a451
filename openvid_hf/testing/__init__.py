"""Test doubles and helpers: a local Hub-compatible server and pytest fixtures."""
