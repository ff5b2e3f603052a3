"""RTCP: the wire codec, the router of what arrives, keyframe requests, NACK service, sender/receiver reports."""
