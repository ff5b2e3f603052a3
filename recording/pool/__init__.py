"""The recorder pool (docs/recording.md, "Launching recorders"): one process per region that announces itself to
the control plane with its scoped key, takes the jobs it is given, runs one recorder page in Chromium per job with
the sink, muxer and vault beside it, and stops and seals each recording when its job is dismissed, the meeting ends
or the page dies. `python -m recording.pool --help`."""
