# Prints, from a ctest LastTest.log, the last 60 lines of output of every test that did not
# pass (ctest logs failures, timeouts and crashes alike as "Test Failed."), each under its
# name. Used by scripts/sanitize.sh.
/^[0-9]+\/[0-9]+ Testing: / { name = $0; sub(/^[0-9]+\/[0-9]+ Testing: /, "", name); n = 0; inout = 0; next }
/^Output:$/ { inout = 1; next }
/^<end of output>$/ { inout = 0; next }
inout { buf[n % 60] = $0; n++; next }
/^Test Failed/ {
  print "--- " name " ---"
  start = n > 60 ? n - 60 : 0
  if (start > 0) print "[... " start " earlier lines ...]"
  for (i = start; i < n; i++) print buf[i % 60]
}
