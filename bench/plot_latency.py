#!/usr/bin/env python3
"""Latency percentile chart from larder_loadtest result files (docs/benchmarks.md).

    python3 bench/plot_latency.py RESULT.json [RESULT2.json ...] -o docs/img/latency.svg \
        [--names "single lookups,batches of 100"]

One panel per result file, one line per configuration (system x readers): request latency
against percentile, HdrHistogram-style (the x axis is 1/(1-q) on a log scale, so 90%, 99%,
99.9% ... are evenly spaced). Reads the JSON with the standard library and draws with gnuplot
(Debian: gnuplot-nox); .svg or .png by the output's extension.
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

STYLE = {  # system -> (color, dash type)
    "larder": ("#1b7837", 1),
    "larder-columnar": ("#5aae61", 4),
    "larder+writer": ("#7fbf7b", 2),
    "lmdb": ("#762a83", 1),
    "redis-unix": ("#d6604d", 1),
    "redis-tcp": ("#b2182b", 1),
    "redis-unix-hgetall": ("#f4a582", 3),
    "redis-tcp-hgetall": ("#e08214", 3),
}


def fmt_ns(ns):
    if ns >= 1e9:
        return f"{ns / 1e9:.3g} s"
    if ns >= 1e6:
        return f"{ns / 1e6:.3g} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.3g} µs"
    return f"{ns:.3g} ns"


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def panel(result, name, tmp, index):
    """gnuplot commands for one panel; writes its data files into tmp."""
    cfg, mach = result["config"], result["machine"]
    lines, plots = [], []
    max_x, min_y, max_y = 10.0, float("inf"), 0.0
    first_readers = min(cfg["readers"])
    for k, run in enumerate(result["runs"]):
        pts = [(1.0 / (1.0 - q), ns) for q, ns in run["spectrum"] if q < 1.0 and ns > 0]
        if not pts:
            continue
        path = os.path.join(tmp, f"p{index}_{k}.dat")
        with open(path, "w") as f:
            for x, y in pts:
                f.write(f"{x:.6g} {y:.6g}\n")
        max_x = max(max_x, pts[-1][0])
        min_y, max_y = min(min_y, min(y for _, y in pts)), max(max_y, max(y for _, y in pts))
        color, dash = STYLE.get(run["system"], ("#444444", 1))
        main = run["readers"] == first_readers
        title = f'{run["system"]} x{run["readers"]} (p50 {fmt_ns(run["median"]["p50_ns"])})'
        plots.append(f'{quote(path)} using 1:2 with lines lc rgb "{color}" dt {dash} '
                     f'lw {2.5 if main else 1.2} title {quote(title)}')
    decades = int(math.floor(math.log10(max_x)))
    xtics = ", ".join(
        f'"{100 * (1 - 10 ** -d):.{max(0, d - 2)}f}%%" {10 ** d}' for d in range(0, decades + 1))
    y_lo = 10 ** math.floor(math.log10(max(min_y, 1)))
    y_hi = 10 ** math.ceil(math.log10(max(max_y, 10)))
    ytics = ", ".join(f'{quote(fmt_ns(10 ** e))} {10 ** e}'
                      for e in range(int(math.log10(y_lo)), int(math.log10(y_hi)) + 1))
    batch = cfg["batch"]
    line1 = (f'{name}: {cfg["entities"]:,} entities, {cfg["float_features"]} Float32 + '
             f'{cfg["string_features"]} String, batch {batch}, {cfg["dist"]}')
    line2 = (f'{mach["nproc"]} CPUs ({mach["cpu"]}), {cfg["rounds"]} rounds x '
             f'{cfg["duration_s"]:g} s per configuration, interleaved')
    title = quote(line1)[:-1] + "\\n" + quote(line2)[1:]  # gnuplot's "\n": a line break
    lines += [
        f'set title {title} font ",10"',
        "set logscale xy",
        f"set xrange [1:{10 ** (decades + 0.3):g}]",
        f"set yrange [{y_lo:g}:{y_hi:g}]",
        f"set xtics ({xtics})",
        f"set ytics ({ytics})",
        "set mxtics 10",
        "set grid xtics ytics lc rgb '#dddddd'",
        'set xlabel "percentile"',
        f'set ylabel "latency per request ({batch} entit{"y" if batch == 1 else "ies"})"',
        "set key top left font ',9' box opaque",
        "plot " + ", \\\n     ".join(plots),
    ]
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+", help="larder_loadtest JSON result files")
    ap.add_argument("-o", "--output", default="docs/img/latency.svg", help=".svg or .png")
    ap.add_argument("--names", help="comma-separated panel titles (default: file names)")
    args = ap.parse_args()
    gnuplot = shutil.which("gnuplot")
    if gnuplot is None:
        sys.exit("plot_latency.py needs gnuplot (Debian: apt-get install gnuplot-nox, or "
                 "bash scripts/install-deps.sh)")
    names = args.names.split(",") if args.names else [os.path.basename(p) for p in args.results]
    n = len(args.results)
    width, height = 760 * n, 560
    term = (f"set terminal svg size {width},{height} dynamic font 'Helvetica,11' background '#ffffff'"
            if args.output.endswith(".svg") else
            f"set terminal pngcairo size {width},{height} font 'Helvetica,10'")
    with tempfile.TemporaryDirectory(prefix="larder-plot-") as tmp:
        script = [term, f"set output {quote(os.path.abspath(args.output))}",
                  "set encoding utf8", f"set multiplot layout 1,{n}"]
        for i, (path, name) in enumerate(zip(args.results, names)):
            with open(path) as f:
                script += panel(json.load(f), name, tmp, i)
        script.append("unset multiplot")
        gp = os.path.join(tmp, "plot.gp")
        with open(gp, "w") as f:
            f.write("\n".join(script) + "\n")
        r = subprocess.run([gnuplot, gp], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"gnuplot failed:\n{r.stderr}")
    print(f"wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
