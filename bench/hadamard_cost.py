"""Online Hadamard cost against the linear layer it precedes, from ONE run of squint_kernels_bench.

Prints, for K in {192, 768, 3072} (rows 197), time(HADAMARD)/time(FULLY_CONNECTED [K] x [K, N]) for
int8 and int16 Hadamard inputs and N = K, 4K, on the reference kernels and on the AVX-512 VNNI ones
(the transform and GEMM the runtime ships there), and flags ratios above the issue's 10% target.
  .venv/bin/python bench/hadamard_cost.py --bench build/bench/squint_kernels_bench [--min-time 1]
"""
import argparse
import json
import subprocess
import sys


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", default="build/bench/squint_kernels_bench")
    ap.add_argument("--min-time", default="1", help="Google Benchmark min time per benchmark, seconds")
    args = ap.parse_args()
    out = subprocess.run([args.bench, "--benchmark_format=json", f"--benchmark_min_time={args.min_time}"],
                         check=True, capture_output=True, text=True).stdout
    times = {b["name"]: b["real_time"] for b in json.loads(out)["benchmarks"] if not b.get("error_occurred")}
    over = []
    # (title, Hadamard benchmark suffix, FC benchmark name for K and N): the reference kernels, then the
    # kernels the runtime ships on AVX-512 VNNI (when the CPU has them)
    kinds = [("reference kernels", "1", lambda k, n: f"BM_FullyConnected/{k}/{n}"),
             ("AVX-512 VNNI kernels", "3", lambda k, n: f"BM_Gemm/M:197/N:{n}/K:{k}/isa:3")]
    for title, isa, fc in kinds:
        if f"BM_Hadamard<int8_t>/192/{isa}" not in times:
            print(f"{title}: not available on this CPU")
            continue
        print(f"{title}:")
        print("| K | Hadamard int8 (us) | Hadamard int16 (us) | FC N=K (us) | FC N=4K (us) "
              "| int8/FC(K) | int16/FC(K) | int8/FC(4K) | int16/FC(4K) |")
        print("|---|---|---|---|---|---|---|---|---|")
        for k in (192, 768, 3072):
            h8, h16 = times[f"BM_Hadamard<int8_t>/{k}/{isa}"], times[f"BM_Hadamard<int16_t>/{k}/{isa}"]
            fc1, fc4 = times[fc(k, k)], times[fc(k, 4 * k)]
            ratios = [h8 / fc1, h16 / fc1, h8 / fc4, h16 / fc4]
            over += [(title, k, round(r, 3)) for r in ratios if r > 0.10]
            print(f"| {k} | {h8:.1f} | {h16:.1f} | {fc1:.1f} | {fc4:.1f} | " +
                  " | ".join(f"{100 * r:.2f}%" for r in ratios) + " |")
    print("target <= 10%: " + ("met for every size" if not over else f"EXCEEDED for {over}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
