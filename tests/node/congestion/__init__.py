"""Tests of sfu/congestion (transport-cc feedback, the send-side bandwidth estimator)."""
