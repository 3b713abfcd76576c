import re,sys,statistics as st
for name in sys.argv[1:]:
    rows=[]
    for s in range(5):
        try: txt=open(f"benchmarks/bptt/{name}-s{s}.txt").read()
        except: continue
        marks=re.findall(r"mark (\d+)s train_secs=([\d.]+) current d_stsp=(\S+) d_h=(\S+) best d_stsp=(\S+) d_h=(\S+)",txt)
        done=re.search(r"done: epochs (\d+) updates (\d+) train ([\d.]+)s \(([\d.]+) ms/update\)",txt)
        rows.append((s,marks,done.groups() if done else None))
    print(f"## {name}")
    print("| seed | 15 s cur D_stsp / D_H | 15 s best | 30 s cur | 30 s best | 60 s cur | 60 s best | updates | ms/update |")
    print("|---|---|---|---|---|---|---|---|---|")
    med={}
    for s,marks,done in rows:
        cells=[]
        for m in marks:
            cells.append(f"{float(m[2]):.3f} / {float(m[3]):.3f} (at {m[1]} s)")
            cells.append(f"{float(m[4]):.3f} / {float(m[5]):.3f}")
            med.setdefault(m[0],[]).append(tuple(map(float,m[2:])))
        while len(cells)<6: cells.append("-")
        print(f"| {s} | "+" | ".join(cells)+f" | {done[1] if done else '-'} | {done[3] if done else '-'} |")
    for k,v in med.items():
        print(f"median @{k}s: current D_stsp {st.median(x[0] for x in v):.3f} D_H {st.median(x[1] for x in v):.3f}; best D_stsp {st.median(x[2] for x in v):.3f} D_H {st.median(x[3] for x in v):.3f}  (n={len(v)})")
