"""Tessera's benchmarks against peers: ``python -m bench`` (see bench/README.md)."""
