# Sourced by scripts/test and scripts/check-upgrade (needs LIA_DEV_DIR, the run's throwaway
# stack). `stop_leftovers` kills what the run started and an interrupt (Ctrl-C, a ctest
# timeout) left running: e2e suites and probes run in sessions of their own, out of reach of
# the terminal's signal. Each carries the run's database address, with its folder, in its
# environment.
stop_leftovers() {
  local env pid var
  for env in /proc/[0-9]*/environ; do
    pid="${env#/proc/}"
    pid="${pid%/environ}"
    [ "$pid" = "$$" ] && continue
    # The NUL-separated variables, read by the shell itself (the folder matched literally).
    { while IFS= read -r -d '' var; do
        case "$var" in
          LIA_PG_URL=*"$LIA_DEV_DIR/"*)
            kill -9 "$pid" 2>/dev/null || true
            break
            ;;
        esac
      done <"$env"; } 2>/dev/null || true
  done
}
