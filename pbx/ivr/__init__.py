"""A generic IVR engine: steps (`pbx.ivr.steps`) and the runner that performs them over an
outbound-socket session (`pbx.ivr.runner`).

A feature's pure machine decides what happens next; its telephony turns each decision into one
of these steps (prompt paths already resolved, numbers already checked) and hands the runner a
function that takes what the step produced (the digits of a `Collect`, the outcome of a
`Bridge`) and returns the next step. The runner never decides anything and imports nothing of
the portal: every string it sends goes through `pbx.esl.commands`, which refuses what could
inject an application, a header or an expansion.
"""

from pbx.ivr.runner import Runner
from pbx.ivr.steps import Bridge, Collect, Hangup, Play, Record, Step, Transfer

__all__ = ["Bridge", "Collect", "Hangup", "Play", "Record", "Runner", "Step", "Transfer"]
