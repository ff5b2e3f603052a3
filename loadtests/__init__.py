"""Load tests, media bots and benchmarks for Castellan."""
