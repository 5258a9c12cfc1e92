#!/usr/bin/env sh
# kinkcheck CI gate: run the theorem suite against YOUR optimizer(s); exit with pytest's status.
#
# Copy this file into your repository (e.g. as ci/kinkcheck-gate.sh) and call it after
#     pip install torch kinkcheck        # and your own package
#
# Usage:
#     sh ci/kinkcheck-gate.sh FAMILY=module:attr [FAMILY=module:attr ...]
#     KINKCHECK_OPTIMIZERS="adam=mylib.optim:MyAdam;sgd=mylib.optim:MySGD" sh ci/kinkcheck-gate.sh
#
# FAMILY is one of kinkcheck's families (sgd momentum nesterov adagrad rmsprop adadelta adam
# adamax nadam amsgrad radam adamw asgd rprop lbfgs adafactor muon generic): it decides which
# theorems apply and which reference recursion your optimizer must match.
#
# Environment (all optional):
#     KINKCHECK_OPTIMIZERS    specs separated by ';' or ',', used when no arguments are given
#     KINKCHECK_ACTIVATION    module:attr of your ReLU (read by the plugin itself)
#     KINKCHECK_PROFILE       Hypothesis profile (default: kinkcheck-ci -- derandomized, reproducible;
#                             kinkcheck-ci-noshrink reports the first failing example without minimising it)
#     KINKCHECK_REPORT_MD     Markdown conformance table (default: kinkcheck.md)
#     KINKCHECK_REPORT_JSON   JSON report with measured figures (default: kinkcheck.json)
#     KINKCHECK_XFAILS        known-deviations file (lines 'T4::adam=mylib.optim:MyAdam  # reason')
#     KINKCHECK_PYTEST_ARGS   extra pytest arguments, split on spaces (e.g. "-k frozen", or
#                             "--kinkcheck-require-coverage" to fail when a check could not run (n/s))
#     PYTHON                  interpreter (default: python)
#
# Exit status: 0 when every applicable theorem holds (or is a listed known deviation);
# 1 when one fails (the output names the theorem and prints a minimal counterexample);
# 4 for a usage error (malformed spec, unknown family, import error, a report directory that does
# not exist); 2 if no optimizer is given.
set -eu

if [ "$#" -gt 0 ]; then
    specs=$(printf '%s;' "$@")
    KINKCHECK_OPTIMIZERS=${specs%;}
fi
if [ -z "${KINKCHECK_OPTIMIZERS:-}" ]; then
    echo "kinkcheck-gate: no optimizer given (arguments FAMILY=module:attr or KINKCHECK_OPTIMIZERS)" >&2
    exit 2
fi
export KINKCHECK_OPTIMIZERS
KINKCHECK_PROFILE=${KINKCHECK_PROFILE:-kinkcheck-ci}
KINKCHECK_REPORT_MD=${KINKCHECK_REPORT_MD:-kinkcheck.md}
KINKCHECK_REPORT_JSON=${KINKCHECK_REPORT_JSON:-kinkcheck.json}
PYTHON=${PYTHON:-python}

set -- --pyargs kinkcheck.theorems --hypothesis-profile "$KINKCHECK_PROFILE" \
    --kinkcheck-report-md "$KINKCHECK_REPORT_MD" --kinkcheck-report-json "$KINKCHECK_REPORT_JSON"
if [ -n "${KINKCHECK_XFAILS:-}" ]; then
    set -- "$@" --kinkcheck-xfails-file "$KINKCHECK_XFAILS"
fi
# word splitting of KINKCHECK_PYTEST_ARGS is intended (no globbing)
set -f
# shellcheck disable=SC2086
set -- "$@" ${KINKCHECK_PYTEST_ARGS:-}
set +f

echo "kinkcheck-gate: KINKCHECK_OPTIMIZERS=$KINKCHECK_OPTIMIZERS $PYTHON -m pytest $*"
status=0
"$PYTHON" -m pytest "$@" || status=$?
if [ -n "${GITHUB_STEP_SUMMARY:-}" ] && [ -f "$KINKCHECK_REPORT_MD" ]; then
    cat "$KINKCHECK_REPORT_MD" >> "$GITHUB_STEP_SUMMARY"
fi
echo "kinkcheck-gate: exit status $status (report: $KINKCHECK_REPORT_MD, $KINKCHECK_REPORT_JSON)"
exit "$status"
