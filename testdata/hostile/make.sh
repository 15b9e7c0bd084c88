#!/bin/sh
# Writes testdata/hostile/names.snap, a snapshot whose every name is hostile
# (tests/tools/mt-fixture.c --hostile says which bytes), for the tests that
# check each tool's output with its own parser, and percent.snap, a pipeline
# whose step names hold '%', and trace-names.snap, an allocation trace whose
# innermost frame has the hostile name.
#   sh testdata/hostile/make.sh BUILD_DIR
set -eu
here=$(cd "$(dirname "$0")" && pwd)
"$1/tests/mt-fixture" --hostile "$here/names.snap"
"$1/tests/mt-fixture" --percent "$here/percent.snap"
"$1/tests/mt-fixture" --trace-hostile "$here/trace-names.snap"
