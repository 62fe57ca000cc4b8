#!/bin/sh
# env.sh: the variables a command tool is given, as a JSON object ("unset" for
# a missing one).
printf '{"run":"%s","tool":"%s","step":"%s","action":"%s","extra":"%s"}' \
  "${AGENTRT_RUN_ID-unset}" "${AGENTRT_TOOL-unset}" "${AGENTRT_STEP-unset}" \
  "${AGENTRT_ACTION_ID-unset}" "${ART_TEST_VAR-unset}"
