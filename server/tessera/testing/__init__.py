"""Tessera's pytest plugin and browser-test harness, for the project and for users."""
