"""Offer/answer: the SDP codec, the offer applied, and the tracks and subscriptions it puts in the engine."""
