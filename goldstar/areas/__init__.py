"""Areas: exact, certified weights for states, districts and synthetic areas.

One band QP per area, reweighting the national weights (docs/band.md,
docs/areas.md). One job per module, data flowing one way:

    recipe.py     which target families an area gets (data/recipe.csv)
    inputs.py     the SOI state table and the national records and weights
    targets.py    area targets by SOI shares of the national totals
    synthetic.py  seeded synthetic districts and N-area splits
    prepass.py    the fast unreachable-target pre-pass (range test, feasibility LP, elastic LP)
    problem.py    one area: its Problem, its pre-pass, its solve and certificate
    batch.py      the Dask batch: national data scattered once, one task per area
    output.py     atomic per-area files, the summary, TMD's weights-file layout
    command.py    `goldstar areas`
"""
