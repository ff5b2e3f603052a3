"""Tests of sfu/transport (ICE-lite, DTLS-SRTP) and the node's one UDP port."""
