#!/bin/bash
# interleaved: base-with, final-with, final-without; 3 rounds; per call = (min 1500 - min 500)/1000
BASE=$1; FINAL=$2; TAG=$3
for R in 1 2 3; do
  for cfg in "base:$BASE:with" "final:$FINAL:with" "final:$FINAL:without"; do
    IFS=: read name bin T <<< "$cfg"
    for N in 500 1500; do
      W2_CALLS=$N W2_TARGET=$T nice -n 15 valgrind --tool=callgrind --callgrind-out-file=/tmp/w3-$TAG-$name-$T-$N-r$R.cg $bin --bench > /dev/null 2>/tmp/w3-$TAG-$name-$T-$N-r$R.log
    done
  done
done
for cfg in base-with final-with final-without; do
  a=$(grep -h "Collected" /tmp/w3-$TAG-$cfg-500-r*.log | awk '{print $NF}' | sort -n | head -1)
  b=$(grep -h "Collected" /tmp/w3-$TAG-$cfg-1500-r*.log | awk '{print $NF}' | sort -n | head -1)
  all=$(for N in 500 1500; do grep -h "Collected" /tmp/w3-$TAG-$cfg-$N-r*.log | awk '{printf "%s ", $NF}'; done)
  echo "$TAG $cfg: $(( (b - a) / 1000 )) instr/call (min of 3; runs: $all)"
done
