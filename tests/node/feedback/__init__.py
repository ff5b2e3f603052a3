"""Tests of sfu/feedback (RTCP)."""
