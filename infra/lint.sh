#!/usr/bin/env bash
# Offline checks of every CloudFormation template: cfn-lint, then checkov with the justified skips.
# Usage: infra/lint.sh <built app template> <other templates...>
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-infra
if [ ! -x "$VENV/bin/checkov" ] || ! cmp -s infra/requirements-infra.txt "$VENV/.installed" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet -r infra/requirements-infra.txt
  cp infra/requirements-infra.txt "$VENV/.installed"
fi

"$VENV/bin/cfn-lint" --regions ap-south-1 -t "$@"

# checkov with the justified skips (infra/checkov_skips.py, each with its reason) written into
# copies of the templates, so that its summary counts them as skipped: --skip-check would hide them.
copies=$("$VENV/bin/python" infra/checkov_skips.py build/checkov "$@")
BC_SKIP_MAPPING=TRUE "$VENV/bin/checkov" --quiet --compact --framework cloudformation $(printf -- '-f %s ' $copies)
