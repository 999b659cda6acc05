"""Does sigma_hat mean something? Eq. 8 as the paper writes it against its standardized reading, on the toys.

    python benchmarks/sigma_meaning.py            # about 3 minutes on 2 cores

In a toy world y = f(x) + s(x) eps the true error scale at x is s(x) std(eps). For each fit: sigma_hat / true
std (the median over x, and its spread: the 90th / 10th percentile of the ratio, 1.0 when sigma_hat follows the
truth up to one factor), Pearson(sigma_hat, s(x)), the share of sigma_hat above 0.9 (the sigmoid's ceiling), the
KL(true || learned) and the RMSE of mu_hat and of mu* (the mean of the learned law, ``Fit.predict``) / the oracle's.
Writes benchmarks/sigma_meaning.md.
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from rlelab.files import atomic_write  # noqa: E402
from rlelab.toys import fit  # noqa: E402

FITS = {  # name: toys.fit overrides
    "Eq. 8 (paper, no log s)": {"loss": "rle", "with_log_s": False},
    "Eq. 8 + log s": {"loss": "rle", "with_log_s": True},
    "standardized": {"loss": "rle", "standardize": True},
}
WORLDS = (("gaussian", 1), ("student_t", 1), ("bimodal", 1), ("correlated", 2))


@torch.no_grad()
def sigma_stats(result, n=4096, seed=10_000):
    x, _ = result.world.sample(n, seed=seed)
    _, sigma_hat = result.model(x)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        eps_std = result.world.noise.sample((200_000,)).std(0)
    true = result.world.s(x) * eps_std  # (n, D): the std of y - f(x)
    ratio = (sigma_hat / true).flatten().numpy()
    lo, med, hi = np.percentile(ratio, [10, 50, 90])
    pearson = np.mean([np.corrcoef(sigma_hat[:, d].numpy(), result.world.s(x)[:, 0].numpy())[0, 1] for d in range(sigma_hat.shape[1])])
    return {"ratio": med, "spread": hi / lo, "pearson": pearson, "ceiling": (sigma_hat > 0.9).float().mean().item()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "sigma_meaning.md"))
    args = parser.parse_args()
    rows = ["| world | fit | sigma_hat / true std (median) | 90th / 10th percentile | Pearson(sigma_hat, s(x)) | "
            "share above 0.9 | KL (nats) | RMSE / oracle: mu_hat; mu* |", "|---|---|---|---|---|---|---|---|"]
    for law, dim in WORLDS:
        oracle = {s: fit(law=law, dim=dim, loss="oracle", steps=args.steps, seed=s).evaluate(n=100_000)["rmse"] for s in args.seeds}
        for name, overrides in FITS.items():
            cells = []
            for seed in args.seeds:
                result = fit(law=law, dim=dim, steps=args.steps, seed=seed, **overrides)
                ev = result.evaluate(n=100_000)
                cells.append({**sigma_stats(result), "kl": ev["kl"], "rmse": ev["rmse"] / oracle[seed],
                              "rmse_star": ev["rmse_star"] / oracle[seed]})
            mean = {k: np.mean([c[k] for c in cells]) for k in cells[0]}
            rows.append(f"| {law} ({dim}-D) | {name} | {mean['ratio']:.2f} | {mean['spread']:.2f} | {mean['pearson']:.2f} | "
                        f"{mean['ceiling']:.2f} | {mean['kl']:.4f} | {mean['rmse']:.2f}; {mean['rmse_star']:.2f} |")
            print(rows[-1], flush=True)
    text = (f"sigma_hat against the truth on the toys ({args.steps} steps, seeds {args.seeds}; "
            "`python benchmarks/sigma_meaning.py`).\n\n" + "\n".join(rows) + "\n")
    atomic_write(args.out, lambda f: f.write(text), binary=False)


if __name__ == "__main__":
    main()
