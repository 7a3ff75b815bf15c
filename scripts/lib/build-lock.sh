# Sourced by scripts/test, scripts/run, scripts/dev-stack and scripts/bench/* (needs
# LIA_BUILD_DIR).
# `locked CMD...` runs CMD holding the build folder's lock: one configure or build at a time
# in a folder (two at once can corrupt it); another script on the same folder waits here.
# The lock's descriptor is not passed on, so nothing CMD starts keeps it.
locked() {
  mkdir -p "$LIA_BUILD_DIR"
  flock -o "$LIA_BUILD_DIR/.lia-build.lock" "$@"
}
