"""Tests of sfu/allocation (simulcast/SVC layer choice, the dominant speaker and last-N)."""
