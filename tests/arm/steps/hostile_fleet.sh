#!/usr/bin/env bash
# Step "hostile_fleet" (issue 27): the bundle, service and queue part of the hostile corpus
# (tests/hostile_corpus.py --part fleet: archive bombs, forged bundle metadata, links and devices in a
# bundle, systemd unit injection, bad queue options) against the installed edgeface. Every case must
# give exit 2 or 3 and one `error:` line, no traceback, no secret, and change nothing in its folder.
# Each case runs in a child forked from one Python that imported edgeface once (--fork): a fresh
# emulated Python start costs seconds. Nothing is compared between the sides; the step's exit
# status on each side is the check.
set -euo pipefail
"$PYTHON" "$EDGEFACE_REPO/tests/hostile_corpus.py" --part fleet --fork | tee "$EDGEFACE_ARM_OUT/hostile_fleet.txt"
