"""The soak (issue 18): one meeting held for an hour on real processes, its nodes' memory and descriptors watched.

`python -m loadtests.soak --minutes 60` starts, on loopback only, a redis-server, a `castellan control-plane`
and two `castellan node` processes in one region, then holds a meeting of 10 aiortc participants joined through
the control plane's real join path (link + password -> short-lived token -> node). During the run:

  * churn: every few minutes one participant leaves and joins back; before re-joining it presents its old
    token (older than the control plane's 60 s token lifetime) to the node, which must refuse it as expired;
  * one publisher restarts (its socket drops without a goodbye; it joins again and publishes a new track);
  * in the middle, the node hosting the meeting receives SIGTERM: it sends `drain`, every participant asks the
    control plane for a new placement and moves to the other node of the region, the drained node exits by
    itself, and a replacement node starts (a rolling restart);
  * one subscriber drops a fixed share of its incoming RTP (injected loss), the others none.

Every sample (1 min; 10 s in the short version) records each process's RSS (/proc/<pid>/status VmRSS) and open
descriptors (/proc/<pid>/fd), and each participant's decoded frames and RTP losses. The report gives the RSS slope
after warm-up (least squares, %/hour) for the node while it hosts the meeting, descriptor growth, who is receiving
at the end, and residual loss against the injected loss.

Files: deployment.py (the processes), media.py (looping pre-encoded tracks), participant.py (a participant across
its sessions), sampling.py (/proc readings, the slope), scenario.py (the timeline and the checks), report.py
(progress lines, final table, markdown for docs/reliability.md).
"""
