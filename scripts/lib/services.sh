# shellcheck shell=bash
# The suite's six services, as CMake's LIA_SERVICES lists them: a build folder an earlier
# configure narrowed to one service (-DLIA_SERVICES=ingestion) is widened back with it.
# shellcheck disable=SC2034  # used by the scripts that source this file
LIA_ALL_SERVICES="ingestion;conversation;ai_orchestration;nps_gamification;collections;notification"
