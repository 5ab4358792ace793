#!/usr/bin/env bash
# Runs a test's command and says so when it exits with a non-zero status. CTest ignores the
# exit status of a test that has a PASS_REGULAR_EXPRESSION, so a command that printed the
# expected text and then crashed would pass; the line printed here fails it instead
# (FAIL_REGULAR_EXPRESSION, set for every such test in tests/CMakeLists.txt).
"$@"
status=$?
if [ "$status" -ne 0 ]; then echo "kiln-test: exit status $status"; fi
exit "$status"
