"""Time the areas pre-pass alone over an area set, one process, warm-started LP.

    python scripts/areas_prepass.py SET COUNT UPPER     e.g.  states 51 25  |  districts 436 50

Prints one line per area (seconds, LP seconds, simplex iterations, pricing
rounds, master columns, dropped targets) and the total.
"""
import sys
import time

from goldstar.areas.inputs import load_national, read_soi_states, reference_weights
from goldstar.areas.prepass import find_unreachable_area
from goldstar.areas.targets import make_areas

nat = load_national(reference_weights())
soi = read_soi_states()
areas = make_areas(sys.argv[1], soi, nat)
T = time.time()
nd = 0
for a in areas[: int(sys.argv[2])]:
    r = find_unreachable_area(nat.A, nat.weight, a.pop_share, a.targets, nat.cell_names, 0.005, 0.0,
                              float(sys.argv[3]), cache_key=("x",))
    nd += len(r.dropped) > 0
    print(a.name, f"{r.seconds:.2f} lp {r.lp_seconds:.2f} it {r.lp_iterations} rounds {r.lp_rounds} "
          f"cols {r.lp_columns}", r.lp_status, len(r.dropped),
          [(d["name"], d["reason"], round(d["distance_in_band_widths"], 2)) for d in r.dropped][:4],
          f"{r.max_violation_after:.2g}")
print("total", time.time() - T, "areas with drops", nd)
