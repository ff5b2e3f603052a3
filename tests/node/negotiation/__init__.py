"""Tests of sfu/negotiation (SDP offers and answers)."""
