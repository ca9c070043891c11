# Shell helpers shared by benches/*/run.sh (sourced, not run).

# Other work on the box skews every figure: wait_quiet waits (at most QUIET_WAIT_S seconds)
# until the CPUs are >= 90 % idle over 3 s, as read from /proc/stat.
QUIET_WAIT_S=${QUIET_WAIT_S:-300}
idle_pct() {
  local a b
  a=$(head -1 /proc/stat); sleep 3; b=$(head -1 /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN { n = split(a, x); split(b, y); t = 0
    for (i = 2; i <= n; i++) t += y[i] - x[i]
    idle = (y[5] - x[5]) + (y[6] - x[6]); printf "%d", (t > 0 ? 100 * idle / t : 0) }'
}
wait_quiet() {
  local deadline=$((SECONDS + QUIET_WAIT_S)) idle
  while idle=$(idle_pct) && [ "$idle" -lt 90 ]; do
    if [ $SECONDS -gt $deadline ]; then
      echo "# warning: CPUs only ${idle}% idle after ${QUIET_WAIT_S} s of waiting; measuring anyway" >&2
      return
    fi
  done
  echo "# CPUs ${idle}% idle, loadavg $(cut -d' ' -f1-3 /proc/loadavg)" >&2
}
