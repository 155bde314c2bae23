"""cerflow: Clinical Evaluation Reports from public post-market safety data."""

import os

# statsmodels' many small model fits run ~5x slower when OpenBLAS/OMP spread each tiny
# matrix operation over every core (measured on the 2-core CI machine: 25 s vs 4.5 s for one
# forecast). Set before numpy is imported; an operator can still override them.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

__version__ = "0.1.0"
