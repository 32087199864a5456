#!/usr/bin/env python3
"""Atomic read-modify-writes per operation of one workload on handloop, counted exactly.

An atomic read-modify-write (a `lock`-prefixed instruction, or an `xchg` with memory)
costs ~5 ns on the machines this project is measured on, where ~9 plain instructions
run per ns, so the count of them says more about a hot path than its instruction count.
This script runs the `compare` binary's profiling mode under callgrind twice (two
iteration counts, so that setup cancels out), adds up how often each such instruction of
the binary ran, and prints both per operation:

    cargo build --release -p handloop-benches --bin compare
    benches/atomics.py target/release/compare request_reply 1000

The last argument is how many operations one iteration makes (the `per` column of the
table in benches/README.md: 1000 round trips for request_reply, 90,000 yields for
yield_many, ...). Needs valgrind and objdump. With `--by-function`, it also lists where
the atomics of the larger run were executed.
"""

import re
import subprocess
import sys
import tempfile


def atomic_addresses(binary):
    """Addresses of the binary's atomic read-modify-write instructions."""
    listing = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", "-C", binary],
        capture_output=True, text=True, check=True,
    ).stdout
    atomics = {}
    for line in listing.splitlines():
        match = re.match(r"\s*([0-9a-f]+):\s+(.*)", line)
        if not match:
            continue
        instruction = match.group(2)
        if instruction.startswith("lock ") or (
            instruction.startswith("xchg") and "(" in instruction
        ):
            atomics[int(match.group(1), 16)] = instruction
    return atomics


def run(binary, workload, iterations, atomics):
    """(instructions, atomics, {function: atomics}) of one callgrind run."""
    with tempfile.NamedTemporaryFile(suffix=".callgrind") as out:
        subprocess.run(
            ["valgrind", "--tool=callgrind", "--dump-instr=yes", "--compress-pos=no",
             "--compress-strings=no", f"--callgrind-out-file={out.name}",
             binary, "--only", workload, "--runtime", "handloop",
             "--iters", str(iterations)],
            capture_output=True, check=True,
        )
        total = executed = 0
        by_function = {}
        in_binary = False
        function = "?"
        name = binary.rsplit("/", 1)[-1]
        with open(out.name) as lines:
            for line in lines:
                if line.startswith("ob="):
                    in_binary = line.strip().endswith(name)
                elif line.startswith("fn="):
                    function = line[3:].strip()
                elif line.startswith("0x"):
                    fields = line.split()
                    cost = int(fields[-1])
                    total += cost
                    if in_binary and int(fields[0], 16) in atomics:
                        executed += cost
                        by_function[function] = by_function.get(function, 0) + cost
                elif line.startswith("calls="):
                    # The next cost line is an inclusive call cost, not an instruction.
                    next(lines)
        return total, executed, by_function


def main():
    args = [a for a in sys.argv[1:] if a != "--by-function"]
    if len(args) != 3:
        sys.exit(__doc__)
    binary, workload, per_iteration = args[0], args[1], int(args[2])
    atomics = atomic_addresses(binary)
    small, large = 20, 60
    instructions_a, atomics_a, _ = run(binary, workload, small, atomics)
    instructions_b, atomics_b, by_function = run(binary, workload, large, atomics)
    operations = (large - small) * per_iteration
    print(f"{workload}: {(instructions_b - instructions_a) / operations:.0f} instructions, "
          f"{(atomics_b - atomics_a) / operations:.2f} atomic read-modify-writes per op")
    if "--by-function" in sys.argv:
        for function, count in sorted(by_function.items(), key=lambda kv: -kv[1])[:15]:
            print(f"{count / (large * per_iteration):8.2f}  {function[:110]}")


if __name__ == "__main__":
    main()
