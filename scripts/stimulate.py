#!/usr/bin/env python3
"""Responsive stimulation against a model running in real time (`plrnn run`), over UDP.

The model stands in for the brain: `plrnn run` steps it at --rate Hz, sends every step's
line `t,s1,x1,...,xN` to this script, and takes stimulation pulses from it. The stimulation
algorithm here is a toy responsive one: whenever x1 crosses --level upwards (and the last pulse
is at least --refractory seconds ago), it sends a pulse of height --amplitude for --width
seconds (the text "A" at the start, "0" at the end; `plrnn run` holds each input until the next).

Writes into --out: run.csv (every line received), stats.json (from plrnn run), baseline.csv
(the same model with no input, from plrnn generate) and plot.svg (stimulus, and x1, x3
with and without stimulation). Then checks the replay property: the applied inputs, replayed
through `plrnn generate --inputs`, give the received x text exactly. Python standard library only.

    python3 scripts/stimulate.py --model firmware-example/models/lorenz63-m20-p20.plrnn
"""

import argparse
import os
import socket
import subprocess
import sys
import time


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def svg_plot(path, t, panels, rate):
    """A small SVG: one panel per (title, [(label, colour, values)]) sharing the time axis."""
    w, ph, left, top, gap = 900, 170, 60, 20, 40
    h = top + len(panels) * (ph + gap)
    t_max = max(t[-1], 1) / rate
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
           'font-family="sans-serif" font-size="12">',
           f'<rect width="{w}" height="{h}" fill="white"/>']
    for i, (title, series) in enumerate(panels):
        y0 = top + i * (ph + gap)
        vals = [v for _, _, vs in series for v in vs]
        lo, hi = min(vals), max(vals)
        if hi == lo:
            hi = lo + 1.0
        pw = w - left - 20
        out.append(f'<rect x="{left}" y="{y0}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
        out.append(f'<text x="{left}" y="{y0 - 5}">{title}</text>')
        out.append(f'<text x="5" y="{y0 + 12}">{hi:.3g}</text>')
        out.append(f'<text x="5" y="{y0 + ph}">{lo:.3g}</text>')
        for j, (label, colour, vs) in enumerate(series):
            pts = " ".join(
                f"{left + pw * (tt / rate) / t_max:.1f},{y0 + ph * (1 - (v - lo) / (hi - lo)):.1f}"
                for tt, v in zip(t, vs))
            out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1" points="{pts}"/>')
            out.append(f'<text x="{w - 200}" y="{y0 + 15 + 14 * j}" fill="{colour}">{label}</text>')
    y = top + len(panels) * (ph + gap) - gap + 15
    out.append(f'<text x="{left}" y="{y}">0 s</text>')
    out.append(f'<text x="{w - 60}" y="{y}">{t_max:.2f} s</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--plrnn", default="target/release/plrnn")
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--level", type=float, default=0.0, help="x1 threshold (data units)")
    ap.add_argument("--amplitude", type=float, default=5.0)
    ap.add_argument("--width", type=float, default=0.02, help="pulse width, seconds")
    ap.add_argument("--refractory", type=float, default=0.3, help="seconds between pulses")
    ap.add_argument("--out", default="stim-demo")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)

    listen = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listen.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    listen.bind(("127.0.0.1", 0))
    listen.settimeout(0.002)
    out_port = listen.getsockname()[1]
    in_port = free_udp_port()
    send = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stats = os.path.join(a.out, "stats.json")
    proc = subprocess.Popen([
        a.plrnn, "run", "--model", a.model, "--rate", str(a.rate),
        "--duration", str(a.duration), "--input", f"udp://127.0.0.1:{in_port}",
        "--output", f"udp://127.0.0.1:{out_port}", "--stats", stats])

    lines, pulses = [], 0
    last_pulse, pulse_off, prev_x1 = -1e9, None, None
    quiet_since = None
    while True:
        now = time.monotonic()
        if pulse_off is not None and now >= pulse_off:
            send.sendto(b"0\n", ("127.0.0.1", in_port))
            pulse_off = None
        try:
            data = listen.recv(65536).decode()
        except socket.timeout:
            if proc.poll() is not None:
                # The run is over; wait a moment for datagrams still in flight.
                quiet_since = quiet_since or now
                if now - quiet_since > 0.2:
                    break
            continue
        quiet_since = None
        line = data.strip()
        if line.startswith("t,"):
            header = line
            continue
        lines.append(line)
        x1 = float(line.split(",")[2])
        crossed = prev_x1 is not None and prev_x1 < a.level <= x1
        prev_x1 = x1
        if crossed and now - last_pulse >= a.refractory:
            send.sendto(f"{a.amplitude}\n".encode(), ("127.0.0.1", in_port))
            last_pulse, pulse_off = now, now + a.width
            pulses += 1
    if proc.returncode != 0:
        sys.exit(f"plrnn run failed with status {proc.returncode}")

    rows = [l.split(",") for l in lines]
    t = [int(r[0]) for r in rows]
    run_csv = os.path.join(a.out, "run.csv")
    with open(run_csv, "w") as f:
        f.write(header + "\n" + "\n".join(lines) + "\n")
    lost = (t[-1] + 1) - len(t) if t else 0
    print(f"received {len(t)} steps ({lost} lost in transit), sent {pulses} pulses -> {run_csv}")

    # Replay: the applied inputs through plrnn generate give the same x text.
    if lost == 0:
        s_csv = os.path.join(a.out, "applied.csv")
        with open(s_csv, "w") as f:
            f.write("s1\n" + "\n".join(r[1] for r in rows) + "\n")
        replay = os.path.join(a.out, "replay.csv")
        subprocess.run([a.plrnn, "generate", "--model", a.model, "--steps", str(len(t)),
                        "--inputs", s_csv, "--out", replay], check=True,
                       stderr=subprocess.DEVNULL)
        with open(replay) as f:
            want = f.read().split("\n")[1:len(t) + 1]
        same = sum(",".join(r[2:]) == w for r, w in zip(rows, want))
        print(f"replay through plrnn generate: {same} of {len(t)} lines identical")

    baseline = os.path.join(a.out, "baseline.csv")
    subprocess.run([a.plrnn, "generate", "--model", a.model, "--steps", str(t[-1] + 1),
                    "--out", baseline], check=True, stderr=subprocess.DEVNULL)
    with open(baseline) as f:
        base = [l.split(",") for l in f.read().split("\n")[1:] if l]
    base = [base[i] for i in t]
    svg = os.path.join(a.out, "plot.svg")
    svg_plot(svg, t, [
        ("stimulus s1 (sent when x1 crosses the level upwards)",
         [("s1", "#d62728", [float(r[1]) for r in rows])]),
        ("x1: stimulated (blue), unstimulated (grey)",
         [("x1 without input", "#bbbbbb", [float(r[0]) for r in base]),
          ("x1", "#1f77b4", [float(r[2]) for r in rows])]),
        ("x3: stimulated (blue), unstimulated (grey)",
         [("x3 without input", "#bbbbbb", [float(r[2]) for r in base]),
          ("x3", "#1f77b4", [float(r[4]) for r in rows])]),
    ], a.rate)
    print(f"plot -> {svg}")


if __name__ == "__main__":
    main()
