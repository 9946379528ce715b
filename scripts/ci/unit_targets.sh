# SPDX-License-Identifier: MIT
# Sourced by sanitize.sh and arm64.sh: which unit-test executables to build (TARGETS, a space-
# separated list; the caller sets the default) and the CTest exclusion for those left out, so that
# `ctest -L unit -E "$UNIT_EXCLUDE"` runs exactly what was built. salun-demo is what the cli_*
# tests run; without it they are left out too.
unit_all="test_core test_kernels test_io_data test_nn test_unlearn test_report"
unit_left_out=()
for t in $unit_all; do
  [[ " $TARGETS " == *" $t "* ]] || unit_left_out+=("$t")
done
[[ " $TARGETS " == *" salun-demo "* ]] || unit_left_out+=("cli_.*")
UNIT_EXCLUDE='^$'  # matches no test
if [ ${#unit_left_out[@]} -gt 0 ]; then
  UNIT_EXCLUDE="^($(IFS='|'; echo "${unit_left_out[*]}"))\$"
fi
echo "unit tests built: $TARGETS (left out: ${unit_left_out[*]:-none}; TARGETS=\"...\" changes it)"
