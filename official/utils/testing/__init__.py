"""Test helpers: real local servers and fixtures (no mocks)."""
