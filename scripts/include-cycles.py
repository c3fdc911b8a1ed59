#!/usr/bin/env python3
"""Include cycles among the proxy's modules (`make lint`, check 5).

A module is a .c/.h pair under proxy/ with its _internal.h and the .c
files named after it that have no header of their own (conn_down.c and
hbone/conn_hbone.c are conn's; l7_up.c is l7's).  Module A
depends on B when one of A's files includes B's header.  Prints each cycle
(a strongly connected set of modules); exits 1 when a cycle holds one of
the modules named on the command line (default: worker listener conn route),
which must stay out of any cycle, else 0."""
import glob
import os
import re
import sys

STRICT = set(sys.argv[1:]) or {"worker", "listener", "conn", "route"}
os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

files = sorted(glob.glob("proxy/*.[ch]") + glob.glob("proxy/*/*.[ch]"))


headers = {os.path.basename(f)[:-2] for f in files if f.endswith(".h")}


def module(path):
    """conn.c, conn.h, conn_internal.h and conn_down.c (no header of its
    own) are all the module conn."""
    name = re.sub(r"_internal$", "", os.path.basename(path)[:-2])
    base = name
    while base not in headers and "_" in base:
        base = base.rsplit("_", 1)[0]
    return base if base in headers else name


mods = {module(f) for f in files}
graph = {}
for f in files:
    m = module(f)
    with open(f, encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    incs = [module(i + ".h") for i in re.findall(r'^#include "([^"]+)\.h"', text, re.M)]
    for t in incs:
        if t in mods and t != m:
            graph.setdefault(m, set()).add(t)
# Tarjan's strongly connected components
index, low, stack, on, cycles, counter = {}, {}, [], set(), [], [0]
sys.setrecursionlimit(10000)


def visit(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on.add(v)
    for w in sorted(graph.get(v, ())):
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop()
            on.discard(w)
            comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            cycles.append(sorted(comp))


for v in sorted(set(graph) | mods):
    if v not in index:
        visit(v)
bad = 0
for c in cycles:
    strict = STRICT & set(c)
    print("%s: include cycle among proxy modules: %s" %
          ("error" if strict else "warning", " ".join(c)))
    bad += bool(strict)
sys.exit(1 if bad else 0)
