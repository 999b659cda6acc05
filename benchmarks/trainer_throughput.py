"""Does the trainer feed the accelerator? Model-only and full-pipeline training images/s, side by side.

    python benchmarks/trainer_throughput.py --data data/synthpose                      # ResNet-50 at 256x192
    python benchmarks/trainer_throughput.py --data data/synthpose --size 64x48 --batch 32 --steps 10

For each method, the trainer's own step (``rlelab.train.train_step``: autocast per ``amp``, channels_last on CUDA,
the loss, backward, clipping, Adam) timed twice in one run: on one batch already on the device (model-only, the
most the accelerator can take) and fed by the trainer's loader (``--workers`` processes decoding, cropping and
augmenting; uint8 crops, normalized on the device). The ratio pipeline / model-only is what the data costs
(aim: >= 0.9); the ratio of each method's model-only step to L1's is what the loss costs (the flow: the paper
calls it negligible).
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from rlelab.tasks.coco import coco_paths, TopDownCOCO  # noqa: E402
from rlelab.config import model_from_config  # noqa: E402
from rlelab.config import make_config  # noqa: E402
from rlelab.train import amp_dtype, place_model, to_device, train_data_config, train_step  # noqa: E402

METHODS = {"l1": {"loss": "l1"}, "rle, Eq. 8": {"loss": "rle", "standardize": False},
           "rle, standardized": {"loss": "rle", "standardize": True},
           "heatmap": {"head": "heatmap"}}


def timed(steps, step, device):
    """Images/s over ``steps`` calls of step() after 3 unmeasured ones (cudnn autotuning, allocator, workers)."""
    for _ in range(3):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    n = sum(step() for _ in range(steps))
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - start)


def measure(cfg, data, steps, device):
    torch.manual_seed(0)
    model, channels_last = place_model(model_from_config(cfg).train(), cfg, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    amp = amp_dtype(cfg.amp, device)
    scaler = torch.amp.GradScaler("cuda", enabled=amp == torch.float16)
    ann, images = coco_paths(data, "train")
    dataset = TopDownCOCO(ann, images, train_data_config(cfg))
    loader = torch.utils.data.DataLoader(dataset, batch_size=cfg.batch_size, shuffle=True, num_workers=cfg.workers,
                                         drop_last=True, pin_memory=device.type == "cuda")
    fixed = to_device(next(iter(loader)), device, channels_last)

    def model_step():
        loss = train_step(model, fixed, cfg, optimizer, scaler, amp).loss
        loss.item()  # the trainer's one wait per step
        return cfg.batch_size

    batches = iter(loader)

    def pipeline_step():
        nonlocal batches
        try:
            batch = next(batches)
        except StopIteration:
            batches = iter(loader)
            batch = next(batches)
        loss = train_step(model, to_device(batch, device, channels_last), cfg, optimizer, scaler, amp).loss
        loss.item()
        return cfg.batch_size

    return timed(steps, model_step, device), timed(steps, pipeline_step, device)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data/synthpose")
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--size", default="256x192", help="HEIGHTxWIDTH")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 2))
    parser.add_argument("--amp", default="bf16", choices=("fp16", "bf16", "off"))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    size = [int(v) for v in args.size.split("x")]
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"{args.backbone} at {args.size}, batch {args.batch}, amp {args.amp if device.type == 'cuda' else 'off (CPU)'}, "
          f"{args.workers} loader workers, {args.steps} steps each, on {name}\n")
    print("| method | model-only img/s | pipeline img/s | pipeline / model-only | model-only step / L1's |")
    print("|---|---|---|---|---|")
    l1 = None
    for method in args.methods:
        cfg = make_config({"data": args.data, "input_size": size, "backbone": args.backbone, "batch_size": args.batch,
                           "workers": args.workers, "amp": args.amp, **METHODS[method]})
        model_rate, pipe_rate = measure(cfg, args.data, args.steps, device)
        l1 = model_rate if method == "l1" else l1
        ratio = f"{l1 / model_rate:.2f}" if l1 else "-"
        print(f"| {method} | {model_rate:.1f} | {pipe_rate:.1f} | {pipe_rate / model_rate:.2f} | {ratio} |", flush=True)


if __name__ == "__main__":
    main()
