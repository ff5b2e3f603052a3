"""Tests of loadtests/bench (the benchmarks run end to end at tiny scale)."""
