#!/bin/sh
# The AgileRL peer row's environment, apart from marlpipe's: AgileRL is not a dependency.
# Run from the repository root:  sh results/agilerl/make_env.sh
# It builds .venv-agilerl (git-ignored) on top of this Python's packages, so marlpipe (installed
# by the README's command) is importable there for the scoring, and AgileRL's own pins stay in it.
# An environment that already imports AgileRL 2.58.0 is kept as it is.
set -e
if .venv-agilerl/bin/python -c "from importlib.metadata import version; import agilerl, marlpipe; assert version('agilerl') == '2.58.0'" 2>/dev/null; then
  echo "agilerl 2.58.0 ready in .venv-agilerl"
  exit 0
fi
python -m venv --system-site-packages .venv-agilerl
# peft: AgileRL 2.58 imports it at start-up even for MATD3
.venv-agilerl/bin/pip install -q -c constraints-cpu.txt "agilerl==2.58.0" peft
.venv-agilerl/bin/python -c "import marlpipe; from importlib.metadata import version; print('agilerl', version('agilerl'), 'ready in .venv-agilerl')"
