"""Command line: ``python -m rlelab {toy,synthpose,synthoct,synth3d,train,lift,eval,export,import-weights,download-weights,complexity} ...`` (``--help`` on each lists its options)."""
import argparse
import math
import sys


def _toy(args):
    from .toys import FitConfig, fit, save_fit

    config = FitConfig(law=args.law, dim=args.dim, loss=args.loss, q=args.q, variant=args.variant,
                       with_log_s=args.log_s, standardize=args.standardize, steps=args.steps, n_train=args.n_train,
                       batch_size=args.batch_size, lr=args.lr, flow_lr=args.flow_lr, seed=args.seed)
    result = fit(config, progress=True)
    final = result.evaluate(n=args.n_eval)
    if not all(math.isfinite(v) for v in final.values()):
        raise FloatingPointError(f"the fit diverged (KL {final['kl']}, RMSE {final['rmse']}); lower --lr "
                                 f"({args.lr:g}) or --flow-lr ({args.flow_lr:g}). Nothing was saved.")
    rows = [("loss", args.loss), ("law", f"{args.law} ({args.dim}-D)"),
            ("KL(true || learned)", f"{final['kl']:.4f} nats"), ("RMSE of mu_hat", f"{final['rmse']:.5f}"),
            ("RMSE of mu* (the learned law's mean)", f"{final['rmse_star']:.5f}")]
    if not args.no_oracle:
        oracle = fit(config, progress=True, loss="oracle").evaluate(n=args.n_eval)
        rows += [("oracle RMSE", f"{oracle['rmse']:.5f}"), ("RMSE / oracle", f"{final['rmse'] / oracle['rmse']:.3f}"),
                 ("RMSE of mu* / oracle", f"{final['rmse_star'] / oracle['rmse']:.3f}")]
    if args.save:
        save_fit(result, args.save)
        rows.append(("saved to", args.save))
    _print_rows(rows)


def _print_rows(rows):
    """(name, value) pairs as two aligned columns."""
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in rows))


def _size(text):
    try:
        h, w = (int(v) for v in text.lower().split("x"))
        assert h > 0 and w > 0
        return h, w
    except (ValueError, AssertionError):
        raise argparse.ArgumentTypeError(f"a size is HEIGHTxWIDTH in pixels, e.g. 256x192, got {text!r}") from None


def _synthpose(args):
    import time

    from .data.synthpose import SynthPoseConfig, generate

    h, w = args.size
    cfg = SynthPoseConfig(height=h, width=w, noise_law=args.noise_law, noise_scale=args.noise_scale,
                          max_people=args.max_people, style=args.style)
    start = time.time()
    generate(args.out, args.n_train, args.n_val, seed=args.seed, config=cfg, progress=True, layout=args.layout)
    n, elapsed = args.n_train + args.n_val, time.time() - start
    print(f"wrote {n} images to {args.out} in {elapsed:.1f} s ({n / elapsed:.0f} images/s)")


def _synthoct(args):
    import time

    from .data.synthoct import SynthOCTConfig, generate

    h, w = args.size
    cfg = SynthOCTConfig(height=h, width=w, noise_law=args.noise_law, noise_px=args.noise_px,
                         hidden_factor=args.hidden_factor)
    start = time.time()
    generate(args.out, args.n_train, args.n_val, seed=args.seed, config=cfg, progress=True)
    n, elapsed = args.n_train + args.n_val, time.time() - start
    print(f"wrote {n} scans to {args.out} in {elapsed:.1f} s ({n / elapsed:.0f} scans/s)")


def _synth3d(args):
    import time

    from .data.synth3d import Synth3DConfig, generate

    cfg = Synth3DConfig(size=args.size, frames=args.frames, noise_mm=args.noise_mm, images=not args.no_images)
    start = time.time()
    generate(args.out, args.n_train, args.n_val, seed=args.seed, config=cfg, progress=True)
    n, elapsed = (args.n_train + args.n_val) * args.frames, time.time() - start
    print(f"wrote {n} {'pictures' if cfg.images else 'poses'} ({args.n_train} + {args.n_val} sequences of {args.frames}) "
          f"to {args.out} in {elapsed:.1f} s")


def _lift(args):
    from .lifting import LiftConfig, train_lifting

    cfg = LiftConfig(data=args.data, loss=args.loss, epochs=args.epochs, width=args.width, seed=args.seed, out=args.out,
                     standardize=args.standardize)
    _, history = train_lifting(cfg, progress=not args.quiet, overwrite=args.overwrite, resume=args.resume)
    last = history[-1]
    print(f"{args.loss}: val MPJPE {last['MPJPE']:.1f} mm, PA-MPJPE {last['PA-MPJPE']:.1f} mm, pearson(c, -MPJPE) "
          f"{last['pearson']:.3f} after {cfg.epochs} epochs; wrote {args.out}/lift.pt and metrics.json")


def _train(args):
    from .config import load_config, parse_overrides
    from .train import train

    flags = {"out": args.out, "data": args.data, "epochs": args.epochs}  # None: the flag was not given
    cfg = load_config(args.config, {**{k: v for k, v in flags.items() if v is not None}, **parse_overrides(args.overrides)})
    train(cfg, resume=args.resume, progress=not args.quiet, overwrite=args.overwrite)


def _eval(args):
    import os

    from .checkpoints import load_checkpoint, read_checkpoint
    from .files import refuse_existing
    from .evaluate import evaluate, save_results
    from .tasks import TASKS
    from .topdown import TopDownConfig

    ckpt = read_checkpoint(args.checkpoint)
    if ckpt.get("kind") == "lifting":
        return _eval_lifting(args, ckpt)
    out = args.results or os.path.join(os.path.dirname(os.path.abspath(args.checkpoint)), "results.json")
    refuse_existing(out, args.overwrite, "--results")  # before the work, not after it
    model, cfg, _ = load_checkpoint(args.checkpoint, ckpt=ckpt)
    task = TASKS[cfg.task]
    if bool(args.ann_file) != bool(args.image_dir):
        raise ValueError("--ann-file and --image-dir go together: the annotation file and the folder of its images.")
    ann_file, image_dir = (args.ann_file, args.image_dir) if args.ann_file else task.paths(args.data or cfg.data, args.split)
    dataset = task.dataset(ann_file, image_dir, TopDownConfig(input_size=tuple(cfg.input_size), heatmaps=False),
                           detections=args.detections)
    metrics, results = evaluate(model, dataset, task, args.batch_size, not args.no_flip, args.workers, progress=True)
    save_results(results, out)
    if metrics["non_finite"]:
        print(f"warning: {metrics['non_finite']} of {len(dataset)} predictions are not finite (NaN or inf: a diverged "
              f"model?); they count as missed {task.samples} and are not in the results file.", file=sys.stderr)
    rows = [("task", f"{task.name} ({len(dataset)} {task.samples}, {ann_file})")]
    rows += [(k, f"{v:.4f}" if isinstance(v, float) else str(v)) for k, v in metrics.items()]
    rows += [(task.samples, str(len(dataset))), ("results", out)]
    _print_rows(rows)


def _eval_lifting(args, ckpt):
    from .tasks.h36m import h36m_annotations, read_h36m
    from .lifting import evaluate_lifting, lifting_arrays, load_lifting
    from .losses import LOSSES

    model, cfg = load_lifting(args.checkpoint, ckpt)
    ann_file = args.ann_file or h36m_annotations(args.data or cfg.data, args.split)
    samples = read_h36m(ann_file)[1]
    metrics = evaluate_lifting(model, *lifting_arrays(samples), sigma=LOSSES[cfg.loss].has_sigma)
    rows = [("task", f"h36m lifting ({len(samples)} people, {ann_file})"), ("loss", cfg.loss)]
    rows += [(k, f"{v:.4f}") for k, v in metrics.items()]
    _print_rows(rows)


def _export(args):
    import os

    from .checkpoints import export_checkpoint
    from .files import refuse_existing

    refuse_existing(args.out, args.overwrite, "--out")
    export_checkpoint(args.checkpoint, args.out)
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.1f} MB)")


def _import_weights(args):
    from .released import import_weights

    cfg = import_weights(args.file, args.format, args.out, input_size=args.input_size, overwrite=args.overwrite,
                         task=args.task)
    _print_rows([("wrote", args.out), ("from", f"{args.format}: {args.file}"), ("task", cfg.task),
                 ("model", f"{cfg.backbone} + FC, RLE flow ({cfg.variant}'s bar_mu turned to rlelab's)"),
                 ("input", f"{cfg.input_size[0]}x{cfg.input_size[1]}"),
                 ("next", f"python -m rlelab eval --checkpoint {args.out} --data data/{cfg.task}")])


def _complexity(args):
    from .models import BACKBONES, HEADS, build_model, complexity

    print(f"{'model':<30} {'params':>9} {'GMACs (Table 5)':>16} {'GMACs (true)':>13}   input {args.size[0]}x{args.size[1]}")
    for backbone in args.backbones or ["resnet50"]:
        if backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {backbone!r}; choose from {', '.join(BACKBONES)}.")
        for head in HEADS:
            model = build_model(head, backbone)
            paper = complexity(model, args.size)
            true = complexity(model, args.size, transposed="input")
            print(f"{backbone + ' ' + head:<30} {paper['params'] / 1e6:>8.1f}M {paper['macs'] / 1e9:>16.2f} {true['macs'] / 1e9:>13.2f}")


def _add_toy(sub):
    from .losses import LOSSES, RLE_VARIANTS
    from .toys import LAWS, ORACLE, FitConfig

    d = FitConfig()
    toy = sub.add_parser("toy", help="fit a toy world whose noise law is known and score the learned density",
                         formatter_class=_Defaults)
    toy.add_argument("--law", choices=LAWS, default=d.law, help="law of the label noise eps")
    toy.add_argument("--dim", type=int, choices=(1, 2), default=d.dim, help="dimension of the label y")
    toy.add_argument("--loss", choices=(*LOSSES, ORACLE), default=d.loss,
                     help="l1, l2, gaussian/laplace (learnable sigma), flow (Eq. 4), dle (Eq. 5), rle (Eq. 8), "
                          "oracle (MLE with the true law)")
    toy.add_argument("--q", choices=("gaussian", "laplace"), default=d.q, help="the preset density Q of RLE")
    toy.add_argument("--variant", choices=RLE_VARIANTS, default=d.variant,
                     help="RLE formula: the paper's Eq. 8, the official code's, or mmpose's")
    toy.add_argument("--log-s", action=argparse.BooleanOptionalAction, default=None,
                     help="RLE's log s term (Appendix E); default: on (the learned density is normalized and "
                          "its scale pinned); --no-log-s is the paper's Eq. 8")
    toy.add_argument("--standardize", action="store_true",
                     help="RLE with bar_mu standardized to mean 0 and std 1 (sigma_hat is the error's std; Eq. 8 variant "
                          "paper only)")
    toy.add_argument("--steps", type=int, default=d.steps, help="optimizer steps")
    toy.add_argument("--n-train", type=int, default=d.n_train, help="size of the fixed training set")
    toy.add_argument("--batch-size", type=int, default=d.batch_size, help="minibatch size")
    toy.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate (cosine decay)")
    toy.add_argument("--flow-lr", type=float, default=d.flow_lr, help="Adam learning rate of the flow")
    toy.add_argument("--seed", type=int, default=d.seed, help="seed of data, initialization and batches")
    toy.add_argument("--n-eval", type=int, default=100_000, help="Monte Carlo samples for the final KL and RMSE")
    toy.add_argument("--no-oracle", action="store_true", help="skip fitting the oracle for the RMSE ratio")
    toy.add_argument("--save", metavar="PATH", help="write the fitted model here (torch file)")
    toy.set_defaults(run=_toy)


def _add_synthpose(sub):
    from .data.synthpose import LAYOUTS, NOISE_LAWS, STYLE_CHOICES, SynthPoseConfig

    c = SynthPoseConfig()
    sp = sub.add_parser("synthpose", help="generate synthetic people in the exact COCO person-keypoints layout (or MPII's)",
                        formatter_class=_Defaults)
    sp.add_argument("--layout", choices=LAYOUTS, default="coco",
                    help="coco: COCO's 17 joints and boxes; mpii: MPII's 16 joints, center, scale and head boxes")
    sp.add_argument("--out", required=True, help="output folder (must not exist or be empty)")
    sp.add_argument("--n-train", type=int, default=1000, help="training images")
    sp.add_argument("--n-val", type=int, default=200, help="validation images")
    sp.add_argument("--size", type=_size, default=(c.height, c.width), help="HEIGHTxWIDTH of the images")
    sp.add_argument("--seed", type=int, default=0, help="same seed, same bytes")
    sp.add_argument("--noise-law", choices=NOISE_LAWS, default=c.noise_law, help="law of the annotator noise")
    sp.add_argument("--noise-scale", type=float, default=c.noise_scale,
                    help="noise scale in px = this * COCO's OKS sigma of the keypoint * person height")
    sp.add_argument("--max-people", type=int, default=c.max_people, help="most people in one image")
    sp.add_argument("--style", choices=STYLE_CHOICES, default=c.style,
                    help="flat: flat-coloured figures; photo: shaded people in clothes, with hair and faces, cluttered "
                         "rooms, occluders over joints, close-ups, blur, noise, JPEG; mixed: the two in turn (the "
                         "shipped models' data)")
    sp.set_defaults(run=_synthpose)


def _add_synthoct(sub):
    from .data.synthoct import NOISE_LAWS, SynthOCTConfig

    c = SynthOCTConfig()
    so = sub.add_parser("synthoct", help="generate synthetic retina OCT B-scans with 8 annotated boundaries (the OCT task)",
                        formatter_class=_Defaults)
    so.add_argument("--out", required=True, help="output folder (must not exist or be empty)")
    so.add_argument("--n-train", type=int, default=2000, help="training scans")
    so.add_argument("--n-val", type=int, default=200, help="validation scans")
    so.add_argument("--size", type=_size, default=(c.height, c.width), help="HEIGHTxWIDTH of the scans")
    so.add_argument("--seed", type=int, default=0, help="same seed, same bytes")
    so.add_argument("--noise-law", choices=NOISE_LAWS, default=c.noise_law, help="law of the annotator noise")
    so.add_argument("--noise-px", type=float, default=c.noise_px, help="its scale in pixels where a boundary is seen")
    so.add_argument("--hidden-factor", type=float, default=c.hidden_factor,
                    help="the scale x this where fluid or a vessel's shadow hides the boundary")
    so.set_defaults(run=_synthoct)


def _add_synth3d(sub):
    from .data.synth3d import Synth3DConfig

    c3 = Synth3DConfig()
    s3 = sub.add_parser("synth3d", help="generate 3-D people in Human3.6M's layout (3DMPPE's JSON and mmpose's npz)",
                        formatter_class=_Defaults)
    s3.add_argument("--out", required=True, help="output folder (must not exist or be empty)")
    s3.add_argument("--n-train", type=int, default=300, help="training sequences (one person, motion and camera each)")
    s3.add_argument("--n-val", type=int, default=40, help="validation sequences")
    s3.add_argument("--frames", type=int, default=c3.frames, help="pictures per sequence")
    s3.add_argument("--size", type=int, default=c3.size, help="side of the square pictures in px")
    s3.add_argument("--noise-mm", type=float, default=c3.noise_mm,
                    help="scale of the Student-t (nu = 3) noise of the train split's 3-D labels, mm per coordinate")
    s3.add_argument("--no-images", action="store_true", help="write the annotations only (for the lifting model)")
    s3.add_argument("--seed", type=int, default=0, help="same seed, same bytes")
    s3.set_defaults(run=_synth3d)


def _add_lift(sub):
    from .lifting import LiftConfig
    from .losses import LOSSES

    lc = LiftConfig()
    lf = sub.add_parser("lift", help="train the two-stage Human3.6M model: 2-D joints -> 3-D (Martinez et al.'s FC "
                                     "baseline) with any loss", formatter_class=_Defaults)
    lf.add_argument("--data", default=lc.data, help="a Human3.6M-form folder (python -m rlelab synth3d)")
    lf.add_argument("--loss", choices=tuple(LOSSES), default=lc.loss, help="the regression loss (Table 8: l2, l1, dle, rle)")
    lf.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=lc.standardize,
                    help="RLE with bar_mu standardized (sigma_hat is the error's std; the image trainer's default) or "
                         "Eq. 8 without log s (lifts best: docs/results/human36m.md)")
    lf.add_argument("--epochs", type=int, default=lc.epochs, help="passes over the training split")
    lf.add_argument("--width", type=int, default=lc.width, help="units of each fully connected layer")
    lf.add_argument("--seed", type=int, default=lc.seed, help="seed of the initialization and batches")
    lf.add_argument("--out", default=lc.out, help="folder for lift.pt and metrics.json")
    lf.add_argument("--resume", action="store_true", help="continue an interrupted run in OUT exactly (same settings)")
    lf.add_argument("--overwrite", action="store_true", help="replace the lift.pt already in OUT (else it is refused)")
    lf.add_argument("--quiet", action="store_true", help="no progress bar")
    lf.set_defaults(run=_lift)


def _add_train(sub):
    tr = sub.add_parser("train", help="train a pose model from a YAML config (run under torchrun for DDP)")
    tr.add_argument("--config", required=True, help="YAML file of rlelab.config.TrainConfig fields (see configs/)")
    tr.add_argument("--out", help="override the config's output folder")
    tr.add_argument("--data", help="override the config's data folder")
    tr.add_argument("--epochs", type=int, help="override the config's number of epochs")
    tr.add_argument("--resume", action="store_true", help="continue exactly from the newest complete state in OUT")
    tr.add_argument("--overwrite", action="store_true", help="replace the run already in OUT (else it is refused)")
    tr.add_argument("--quiet", action="store_true", help="no progress bars or epoch lines")
    tr.set_defaults(run=_train)
    tr.epilog = ("Any other TrainConfig field overrides the config, its value read as YAML: --lr=3e-4 "
                 "--input_size='[128, 96]' --augment=false --max_steps_per_epoch 5.")


def _add_eval(sub):
    ev = sub.add_parser("eval", help="the task's metrics of a checkpoint: COCO AP and the confidence-OKS correlation, "
                                     "MPII's PCKh@0.5, PCKh@0.1 and AUC, Human3.6M's MPJPE and PA-MPJPE",
                        formatter_class=_Defaults)
    ev.add_argument("--checkpoint", required=True, help="a .pt file written by `rlelab train` or `rlelab lift`")
    ev.add_argument("--data", help="a folder in the task's layout (default: the checkpoint's training data)")
    ev.add_argument("--split", default="val", help="split of --data")
    ev.add_argument("--ann-file", help="an annotation file of the task (COCO keypoints JSON, MPII JSON, Human3.6M JSON or "
                                       "npz) instead of --data (with --image-dir; a lifting model needs no images)")
    ev.add_argument("--image-dir", help="image folder of --ann-file")
    ev.add_argument("--detections", help="COCO results file of person boxes (default: ground-truth boxes; COCO only)")
    ev.add_argument("--no-flip", action="store_true", help="no flip test")
    ev.add_argument("--batch-size", type=int, default=64, help="boxes per forward pass")
    ev.add_argument("--workers", type=int, default=0, help="data loader processes (0: load in this process)")
    ev.add_argument("--results", help="where to write the predictions (COCO results JSON; default: results.json "
                                      "beside the checkpoint)")
    ev.add_argument("--overwrite", action="store_true", help="replace the results file if it exists (else it is refused)")
    ev.set_defaults(run=_eval)


def _add_export(sub):
    ex = sub.add_parser("export", help="a small inference checkpoint (fp16 weights, no optimizer) for the app")
    ex.add_argument("--checkpoint", required=True, help="a .pt file written by `rlelab train`")
    ex.add_argument("--out", required=True, help="where to write it, e.g. data/synthpose_res18_rle.pt")
    ex.add_argument("--overwrite", action="store_true", help="replace --out if it exists (else it is refused)")
    ex.set_defaults(run=_export)


def _add_import_weights(sub):
    from .tasks import TASKS

    iw = sub.add_parser("import-weights", help="a released RLE model (the authors' RegressFlow or mmpose's) as an "
                                               "rlelab checkpoint for eval, the app and the labs", formatter_class=_Defaults)
    iw.add_argument("file", help="the released .pth file")
    iw.add_argument("--format", required=True, choices=("official", "mmpose"),
                    help="official: Jeff-sjtu/res-loglikelihood-regression; mmpose: open-mmlab/mmpose's RLE configs")
    iw.add_argument("--out", required=True, help="the rlelab checkpoint to write, e.g. data/coco_res50_rle_official.pt")
    iw.add_argument("--task", default="coco", choices=[name for name, task in TASKS.items() if task.dim == 2],
                    help="the data set the model was trained on")
    iw.add_argument("--input-size", type=_size, help="HEIGHTxWIDTH the model was trained at (default: the task's, "
                                                     "256x192 for COCO, 256x256 for MPII)")
    iw.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    iw.set_defaults(run=_import_weights)


def _download_weights(args):
    from .download import RELEASES, download_weights

    cfg, out = download_weights(args.name, args.folder, url=args.url, overwrite=args.overwrite)
    _print_rows([("wrote", out), ("from", RELEASES[args.name].url),
                 ("model", f"{cfg.backbone} + FC, RLE flow (mmpose's bar_mu turned to rlelab's), COCO val AP "
                           f"{RELEASES[args.name].ap} as its model zoo reports"),
                 ("input", f"{cfg.input_size[0]}x{cfg.input_size[1]}"),
                 ("next", f"python -m rlelab eval --checkpoint {out} --data data/coco; the app lists it")])


def _add_download_weights(sub):
    from .download import AUTHORS, RELEASES

    dw = sub.add_parser("download-weights", help="a released COCO RLE model from mmpose's model zoo, checked by its "
                                                 "sha256 and imported as an rlelab checkpoint", formatter_class=_Defaults,
                        epilog=f"Also: {AUTHORS}.")
    dw.add_argument("name", choices=list(RELEASES), help="the release")
    dw.add_argument("--folder", default="data", help="where the checkpoint is written (the app lists data/)")
    dw.add_argument("--url", help="a mirror of the same file (its sha256 is still checked)")
    dw.add_argument("--overwrite", action="store_true", help="replace the checkpoint if it exists")
    dw.set_defaults(run=_download_weights)


def _add_complexity(sub):
    cx = sub.add_parser("complexity", help="parameters and GMACs of the regression and heatmap models (Table 5)")
    cx.add_argument("--backbones", nargs="*", help="resnet18 ... resnet152, efficientnet_lite0 ... 2 (default resnet50)")
    cx.add_argument("--size", type=_size, default=(256, 192), help="input HEIGHTxWIDTH")
    cx.set_defaults(run=_complexity)


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m rlelab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_toy, _add_synthpose, _add_synthoct, _add_synth3d, _add_lift, _add_train, _add_eval, _add_export,
                _add_import_weights, _add_download_weights, _add_complexity):
        add(sub)
    return parser


class _Defaults(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a default only where it is a value: a None default is chosen at run time, as its help says."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


def main(argv=None):
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "train":  # only train takes --KEY=VALUE overrides
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.overrides = extra
    try:
        args.run(args)
    except (ValueError, FloatingPointError) as e:
        # an error in a DataLoader worker arrives wrapped in the worker's traceback: its own sentence is the last line
        message = str(e).strip().splitlines()[-1] if "Original Traceback" in str(e) else str(e)
        sys.exit(f"error: {message.split(': ', 1)[1] if message.startswith(type(e).__name__ + ': ') else message}")


if __name__ == "__main__":
    main()
