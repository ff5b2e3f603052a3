"""Congestion control: transport-cc both ways, the send-side estimator, REMB, probes, each downlink's estimate."""
