"""Make data/app_toy_fits.pt, the app's first page without waiting: the default view's three toy fits (RLE, Gaussian,
Laplace on the correlated 2-D law, 600 steps, seed 0) and their KL scores, exactly what the page would train.

    python docs/make_toy_fits.py

The page trains any other setting live (once per server) and falls back to training this one if the file is
absent or no longer matches rlelab.toys. The file is plain data (``rlelab.toys.fit_state``: configs, state dicts,
histories), read with ``weights_only=True``.
"""
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "app"))

from views.densities import SHIPPED, toy_configs  # noqa: E402
from rlelab.files import atomic_write  # noqa: E402
from rlelab.toys import fit, fit_state  # noqa: E402


def main():
    fits, scores = {}, {}
    for config in toy_configs():
        result = fit(config, progress=True)
        fits[str(config)], scores[str(config)] = fit_state(result), result.evaluate(n=50_000)
        print(f"{config.loss}: KL {scores[str(config)]['kl']:.4f}")
    atomic_write(SHIPPED, lambda f: torch.save({"fits": fits, "scores": scores}, f))
    print(f"wrote {SHIPPED} ({SHIPPED.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
