"""Put this folder first on PYTHONPATH with DEEPNET_STRICT_STANDIN=1 and every Python process started there (and
its children) imports the strict CuPy stand-in (tests/strict_cupy.py) as `cupy`: what
`benchmarks/gpu_check.sh --dry-run` runs its stages on, to check the check's mechanics with no GPU."""
import os
import sys

if os.environ.get("DEEPNET_STRICT_STANDIN") == "1":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    from tests import strict_cupy

    strict_cupy.install(sites=False)
