"""The servers the benchmarks start: Tessera's bench app and the peers (one module each)."""
