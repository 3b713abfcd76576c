#!/usr/bin/env bash
# Cargo runner: runs a firmware ELF under QEMU (mps2-an386, Cortex-M4F) with semihosting.
# Semihosting stdout/stderr go to this process's stdout/stderr; the exit status is the
# firmware's (0 success, 1 failure), 124 on timeout.
# Extra QEMU arguments (e.g. a TCG plugin) can be given in QEMU_EXTRA_ARGS; UART0 is connected
# to QEMU_SERIAL (default none; `stdio` for the real-time mode: input from this process's stdin,
# output on its stdout).
set -euo pipefail
elf="$1"
shift
# shellcheck disable=SC2086
exec timeout "${QEMU_TIMEOUT:-60}" qemu-system-arm \
  -machine mps2-an386 -cpu cortex-m4 \
  -display none -monitor none -serial "${QEMU_SERIAL:-none}" \
  -semihosting-config enable=on,target=native \
  ${QEMU_EXTRA_ARGS:-} \
  -kernel "$elf" "$@"
