"""Compliance recording under end-to-end encryption (issue 15; docs/recording.md).

The recorder is a member of the meeting's MLS group like anyone else (signalling/client/recorder.js); this package
is what runs beside it and after it: the policy (policy.py), where a recorder may run (placement.py), the
loopback sink that receives decrypted *encoded* frames from the recorder's page (sink.py) and remuxes them without
transcoding (muxer.py, timeline.py), storage encrypted at rest under a per-tenant key (envelope.py, store.py),
retention and legal hold (holds.py), the archive of recordings with its audit trail (archive.py), and the signed
export package a regulator checks offline (package.py).
"""
