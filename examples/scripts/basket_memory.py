#!/usr/bin/env python3
# Usage: python3 examples/scripts/basket_memory.py target/release  (after `cargo build --release -p result-runtime-examples`)
# Four concurrent 1 MB baskets (35k lines) against the real gateway/checkout/inventory binaries;
# peak RSS (VmHWM) of each before and after.
import subprocess, time, json, threading, urllib.request, sys, socket
bindir = sys.argv[1]
def free():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
pi, pc, pg = free(), free(), free()
procs = [
  subprocess.Popen([f"{bindir}/inventory", f"127.0.0.1:{pi}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
  subprocess.Popen([f"{bindir}/checkout", f"127.0.0.1:{pc}", f"http://127.0.0.1:{pi}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
  subprocess.Popen([f"{bindir}/gateway", f"127.0.0.1:{pg}", f"http://127.0.0.1:{pc}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
]
def hwm(p):
    for l in open(f"/proc/{p.pid}/status"):
        if l.startswith("VmHWM"): return l.split()[1] + " kB"
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", pg), 0.2).close(); break
    except OSError: time.sleep(0.1)
time.sleep(0.5)
print("before", [hwm(p) for p in procs])
body = json.dumps({"items": [{"sku": f"sku-{i}", "qty": 1} for i in range(35000)]}).encode()
print("basket bytes", len(body))
res = []
def post():
    req = urllib.request.Request(f"http://127.0.0.1:{pg}/checkout", data=body, headers={"content-type": "application/json"})
    try:
        r = urllib.request.urlopen(req, timeout=30); res.append((r.status, r.read()[:120]))
    except urllib.error.HTTPError as e:
        res.append((e.code, e.read()[:160]))
ts = [threading.Thread(target=post) for _ in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
print("answers", res)
print("after (inventory, checkout, gateway)", [hwm(p) for p in procs])
for p in procs: p.kill()
