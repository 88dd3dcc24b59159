"""On the GPU machine: engine/triton_scan.py's stride scan against mamba-ssm's selective_scan_fn.

1. agreement: sasmamba-s (shipped weights when present) at batch 64, the model output with the Triton path
   against the mamba-ssm path, fp32 and bf16 autocast (max abs / max rel);
2. the scan alone at real shapes, bf16 inputs: mamba-ssm (one call over the four stacked orders) against Triton
   variants (atomic or four-grid sum, channel block, warps, prefetch), the product default (block_d_for's pick)
   first; the fastest is reported, the model keeps the default unless --block-d forces one;
3. the full forward, bf16 autocast, torch.inference_mode, batch 64 and 256: frames/s for each backend, plain and
   replayed from a CUDA graph, each graph's output checked against the plain forward's (`graph_max_abs`: session
   5's graphs were wrong, so a graph figure counts only where that difference is small);
   (before 3, the product: `Lifter.load(backend="cuda")` lifting ~100k frames of real H36M 2D, S9/S11 through
   camera 0 from ../shared (SASMAMBA_SHARED), flip TTA, Triton scan + bf16 and, when mamba-ssm imports,
   SASMAMBA_TRITON=0; then the regression subset's P1 in mm through the Lifter on each GPU path: Triton bf16,
   Triton fp32, mamba-ssm bf16 / fp32, the torch scan fp32);
   the Triton-scan model is timed with the Triton deformable conv (the product's default) and, for the A/B, with
   the model's own (torchvision's; `--deform` picks which), plain and from a graph: a graph that goes wrong only
   with torchvision's conv convicts it (it did, on an H200, 2026-11-27); `model_triton_deform` says which conv the
   un-suffixed entries ran;
4. a profile of one forward per backend at the first batch (the top ops by GPU time; not with --quick);
5. the scan variants at the other batches.
Between 2 and 3, the depthwise deformable conv alone at each batch, bf16 inputs as under autocast, at the model's
layouts (xi a channel slice of in_proj's output, the offsets as offset_conv gives them): torchvision (through the
model's module, as the model calls it under autocast: casts included) against triton_scan.deform_conv_depthwise
(default settings, then other block shapes unless --quick), and the agreement of the two, bf16 and fp32.
--quick: of the scan and deform conv variants only the product defaults (and the baselines), no profiles, 120 s
budget.
Every measurement is caught on its own (traceback kept in the JSON) and the JSON is rewritten after each one;
measurements that would start after --seconds are skipped.

Usage (repo root on PYTHONPATH): python scripts/bench_gpu_scan.py OUT_JSON [--seconds 150] [--quick]
Smoke run on CPU (figures meaningless): TRITON_INTERPRET=1 PYTHONPATH=.:/path/to/triton python
scripts/bench_gpu_scan.py /tmp/b.json --device cpu --config sasmamba-tiny --batches 1 --variants 1
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time
import traceback

import numpy as np
import torch
from check_gpu import max_rel, sync, timed

from engine import h36m, triton_scan
from engine.evaluate import regression_subset_p1
from engine.lifter import Lifter
from engine.model import SasMamba, StrideSSM
from engine.scan import cuda_scan_available, gpu_scan_path
from engine.types import Keypoints2D
from engine.weights import load_model_state, shipped_weights_path

# (atomic, block_d, num_warps, prefetch steps). block_d = 32 * num_warps keeps each channel's states in one thread; a
# multiple of that gives each thread several channels (independent chains, fewer programs); 32 / 4 warps splits the
# states across warps (a barrier per step: ptxas for sm_90 shows it) and is there to confirm that it loses
# block_d None: the product default, triton_scan.block_d_for's pick for the batch
DEFAULT_VARIANT = (True, None, 1, 1)
VARIANTS = (DEFAULT_VARIANT, (True, 32, 1, 1), (False, 32, 1, 1), (True, 32, 1, 0), (True, 32, 1, 2), (True, 16, 1, 1),
            (True, 8, 1, 1), (True, 64, 1, 1), (True, 64, 1, 2), (True, 128, 1, 1), (True, 64, 2, 1),
            (True, 128, 4, 1), (True, 32, 4, 1))
# the deformable conv's (block_p, num_warps, unroll); None: triton_scan.DEFORM_DEFAULTS
DEFORM_VARIANTS = (None, (32, 4, 1), (32, 8, 1), (64, 8, 1), (16, 2, 1), (16, 4, 3), (16, 4, 9))


class Bench:
    def __init__(self, out: str, seconds: float) -> None:
        # imports before this point and the overrun of the last measurement started come out of the same budget
        self.start = time.monotonic()
        self.out, self.deadline = out, self.start + seconds - 12.0
        self.report: dict = {"torch": torch.__version__, "seconds_budget": seconds, "skipped": [], "errors": {}}

    def write(self) -> None:
        tmp = self.out + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(self.report, fh, indent=1)
        os.replace(tmp, self.out)

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def measure(self, name: str, fn, need: float = 3.0):
        """Run one measurement (`fn` returns a JSON-able value or None); record it, its error or its skipping."""
        if self.left() < need:
            self.report["skipped"].append(name)
            self.write()
            return None
        t = time.monotonic()
        try:
            value = fn()
            if value is not None:
                self.report[name] = value
            return value
        except Exception:  # noqa: BLE001 - keep the other measurements
            self.report["errors"][name] = traceback.format_exc()[-4000:]
            print(f"{name} failed:\n{self.report['errors'][name]}", flush=True)
            return None
        finally:
            self.report.setdefault("wall_s", {})[name] = round(time.monotonic() - t, 2)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            self.write()


def seconds_per_call(fn, dev: torch.device, budget: float = 0.6) -> float:
    """Warm-up (compiles, autotunes, allocator), then as many calls as fit in about `budget` seconds (3 to 50)."""
    first = timed(fn, 1, dev)  # check_gpu.timed warms up with one call of its own
    return timed(fn, max(3, min(50, int(budget / max(first, 1e-6)))), dev)


def load_model(config: str, dev: torch.device) -> tuple[SasMamba, str]:
    model = SasMamba(config)
    path = shipped_weights_path(config)
    source = "random init"
    if path.exists():
        state, _ = load_model_state(path)
        model.load_state_dict(state, strict=False)
        source = str(path)
    return model.to(dev).eval(), source


def model_inputs(model: SasMamba, batch: int, dev: torch.device) -> torch.Tensor:
    g = torch.Generator().manual_seed(batch)
    return (torch.randn(batch, model.cfg.frames, model.cfg.joints, 2, generator=g) * 0.4).to(dev)


def agreement(model: SasMamba, dev: torch.device, batch: int, ref_backend: str) -> dict:
    """Model outputs with the Triton scan against `ref_backend`'s, fp32 and (on CUDA) bf16 autocast; the bf16
    outputs also against fp32, so the Triton path's bf16 error reads beside the reference's own."""
    x = model_inputs(model, batch, dev)
    out = {}
    try:
        for precision in ("fp32", "bf16") if dev.type == "cuda" else ("fp32",):
            with torch.inference_mode(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                for backend in (ref_backend, "triton"):
                    model.set_scan_backend(backend)
                    out[backend, precision] = model(x).float()
    finally:
        model.set_scan_backend("auto")
    report = {"ref_max_abs_value": float(out[ref_backend, "fp32"].abs().max()),
              "triton_finite": all(bool(torch.isfinite(v).all()) for (b, _), v in out.items() if b == "triton")}
    pairs = [(("triton", "fp32"), (ref_backend, "fp32"))]
    if dev.type == "cuda":
        pairs += [(("triton", "bf16"), (ref_backend, "bf16")), ((ref_backend, "bf16"), (ref_backend, "fp32")),
                  (("triton", "bf16"), (ref_backend, "fp32"))]
    for a, b in pairs:
        name = f"{a[0]}_{a[1]}_vs_{b[0]}_{b[1]}"
        report[f"{name}_max_abs"] = float((out[a] - out[b]).abs().max())
        report[f"{name}_max_rel"] = max_rel(out[a], out[b])
    return report


def scan_inputs(model: SasMamba, batch: int, dev: torch.device, dtype: torch.dtype) -> dict:
    """Both scans' inputs at the model's shapes, from the first spatial block's StrideSSM parameters."""
    ssm = next(m for m in model.modules() if isinstance(m, StrideSSM))
    cfg = ssm.cfg
    t, j, di, n, r, k = cfg.frames, cfg.joints, cfg.d_inner, cfg.d_state, cfg.dt_rank, cfg.directions
    length = t * j
    g = torch.Generator().manual_seed(1)

    def rnd(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g) * scale).to(dev, dtype)

    A = -torch.exp(ssm.A_log.detach().float())  # (K di, N)
    return {
        "triton": dict(xa=rnd(batch, t, j, di), xc=rnd(batch, t, j, di),
                       proj_a=rnd(batch, t, j, 2, r + 2 * n, scale=0.5),
                       proj_c=rnd(batch, t, j, 2, r + 2 * n, scale=0.5),
                       A=A.view(k, di, n).transpose(1, 2).contiguous(),
                       dt_w=ssm.dt_proj_weight.detach().transpose(1, 2).float(),
                       dt_bias=ssm.dt_proj_bias.detach().view(k, di).float(), D=ssm.D.detach().view(k, di).float()),
        "mamba": dict(u=rnd(batch, k * di, length), delta=rnd(batch, k * di, length, scale=0.5), A=A.contiguous(),
                      B=rnd(batch, k, n, length), C=rnd(batch, k, n, length), D=ssm.D.detach().float(),
                      delta_bias=ssm.dt_proj_bias.detach().reshape(-1).float()),
    }


def time_scans(bench: Bench, model: SasMamba, dev: torch.device, batch: int, variants=VARIANTS) -> None:
    dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    inputs = scan_inputs(model, batch, dev, dtype)
    frames = batch * model.cfg.frames

    def mamba():
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn

        m = inputs["mamba"]
        fn = lambda: selective_scan_fn(m["u"], m["delta"], m["A"], m["B"], m["C"], m["D"],  # noqa: E731
                                       delta_bias=m["delta_bias"], delta_softplus=True)
        with torch.inference_mode():
            ms = 1e3 * seconds_per_call(fn, dev)
        return {"ms": ms, "scan_frames_per_s": frames / ms * 1e3}

    bench.measure(f"scan_batch{batch}_mamba_ssm", mamba)
    best = None
    for atomic, block_d, warps, prefetch in variants:
        def triton_variant(atomic=atomic, block_d=block_d, warps=warps, prefetch=prefetch):
            fn = lambda: triton_scan.stride_scan(**inputs["triton"], atomic=atomic, block_d=block_d,  # noqa: E731
                                                 num_warps=warps, prefetch=prefetch)
            with torch.inference_mode():
                ms = 1e3 * seconds_per_call(fn, dev)
            return {"ms": ms, "scan_frames_per_s": frames / ms * 1e3}

        kind = "default" if block_d is None else "atomic" if atomic else "sum4"  # the default is atomic too
        shown = block_d or triton_scan.block_d_for(batch, model.cfg.d_inner)
        name = f"scan_batch{batch}_triton_{kind}_d{shown}_w{warps}_p{prefetch}"
        got = bench.measure(name, triton_variant, need=8.0)
        if got and (best is None or got["ms"] < best[0]):
            best = (got["ms"], {"atomic": atomic, "block_d": block_d, "num_warps": warps, "prefetch": prefetch})
    if best:
        bench.report[f"scan_batch{batch}_triton_best"] = best[1]
        bench.write()


def own_deform_impl(dev: torch.device) -> str:
    """The model's own deformable conv as the A/B's other side: torchvision's where it runs, else the torch one."""
    try:
        import torchvision.ops  # noqa: F401
    except Exception:  # noqa: BLE001 - torchvision is optional (and does not import beside some CPU torch builds)
        return "gather"
    return "torchvision" if dev.type == "cuda" else "gather"


def time_deform(bench: Bench, model: SasMamba, dev: torch.device, batch: int, variants=DEFORM_VARIANTS) -> None:
    """The first StrideSSM's deformable conv alone: the model's own module (as the model calls it, under
    autocast on CUDA) against the Triton kernel, timings and agreement."""
    ssm = next(m for m in model.modules() if isinstance(m, StrideSSM))
    cfg = ssm.cfg
    impl = own_deform_impl(dev)
    g = torch.Generator().manual_seed(2)
    # in_proj's output, of which xi is the first half of the channels; the offsets through the model's offset_conv
    proj = (torch.randn(batch, cfg.frames, cfg.joints, 2 * cfg.d_inner, generator=g) * 0.5).to(dev)
    frames = batch * cfg.frames

    def inputs(bf16: bool) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.inference_mode(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            xi = (proj.to(torch.bfloat16) if bf16 else proj)[..., :cfg.d_inner]
            return xi, ssm.offset_conv(xi.permute(0, 3, 1, 2))

    def own(xi: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), torch.autocast(dev.type, dtype=torch.bfloat16,
                                                    enabled=xi.dtype == torch.bfloat16):
            return ssm.conv(xi.permute(0, 3, 1, 2), offset)

    def kernel(xi: torch.Tensor, offset: torch.Tensor, **settings) -> torch.Tensor:
        with torch.inference_mode():
            return triton_scan.deform_conv_depthwise(xi, offset.permute(0, 2, 3, 1), ssm.conv.weight, ssm.conv.bias,
                                                     **settings)

    def agreement() -> dict:
        report = {"own": impl}
        for name, bf16 in (("bf16", True), ("fp32", False)) if dev.type == "cuda" else (("fp32", False),):
            xi, offset = inputs(bf16)
            a, b = kernel(xi, offset).float(), own(xi, offset).permute(0, 2, 3, 1).float()
            report.update({f"{name}_max_abs": float((a - b).abs().max()), f"{name}_max_rel": max_rel(a, b),
                           f"{name}_max_abs_value": float(b.abs().max())})
        return report

    def timing(fn) -> dict:
        xi, offset = inputs(dev.type == "cuda")
        ms = 1e3 * seconds_per_call(lambda: fn(xi, offset), dev)
        return {"ms": ms, "frames_per_s": frames / ms * 1e3}

    try:
        ssm.conv.impl = impl
        bench.measure(f"deform_batch{batch}_agreement", agreement)
        bench.measure(f"deform_batch{batch}_{impl}", lambda: timing(own))
        for v in variants:
            settings = dict(zip(("block_p", "num_warps", "unroll"), v or (), strict=False))
            shown = {**triton_scan.DEFORM_DEFAULTS, **settings}
            name = (f"deform_batch{batch}_triton_{'default_' if v is None else ''}p{shown['block_p']}"
                    f"_w{shown['num_warps']}_u{shown['unroll']}")
            bench.measure(name, lambda settings=settings: timing(lambda xi, off: kernel(xi, off, **settings)))
    finally:
        ssm.conv.impl = "auto"


def time_model(bench: Bench, model: SasMamba, dev: torch.device, batch: int, backend: str, graph: bool,
               deform: str = "auto") -> None:
    """Frames/s of the whole forward; `deform` the deformable conv implementation (`SasMamba.set_deform_impl`;
    "auto": the Triton one on the Triton path)."""
    x = model_inputs(model, batch, dev)
    autocast = dev.type == "cuda"

    def run() -> dict:
        model.set_scan_backend(backend)
        model.set_deform_impl(deform)
        try:
            with torch.inference_mode(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=autocast):
                if not graph:
                    sec = seconds_per_call(lambda: model(x), dev)
                else:
                    model(x)  # compile and autotune outside the capture
                    s = torch.cuda.Stream()
                    s.wait_stream(torch.cuda.current_stream())
                    with torch.cuda.stream(s):
                        model(x)
                    torch.cuda.current_stream().wait_stream(s)
                    g = torch.cuda.CUDAGraph()
                    with torch.cuda.graph(g):
                        y = model(x)
                    sec = seconds_per_call(g.replay, dev)
                    x.copy_(torch.roll(x, 1, 0))  # new input in place: a valid replay must follow it
                    g.replay()
                    graph_max_abs = float((y.float() - model(x).float()).abs().max())
                    del g
        finally:
            model.set_scan_backend("auto")
            model.set_deform_impl("auto")
        out = {"ms": 1e3 * sec, "frames_per_s": batch * model.cfg.frames / sec}
        return out if not graph else {**out, "graph_max_abs": graph_max_abs}

    suffix = "" if deform == "auto" else f"_deform_{deform}"
    bench.measure(f"model_batch{batch}_{backend}{suffix}{'_graph' if graph else ''}", run, need=10.0)


def profile_model(model: SasMamba, dev: torch.device, batch: int, backend: str, top: int = 20) -> list[dict]:
    """Where one bf16 forward's GPU time goes: the `top` ops by device time (what to work on next)."""
    from torch.profiler import ProfilerActivity, profile

    x = model_inputs(model, batch, dev)
    model.set_scan_backend(backend)
    try:
        with torch.inference_mode(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            model(x)
            sync(dev)
            activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
            with profile(activities=activities) as prof:
                model(x)
                sync(dev)
    finally:
        model.set_scan_backend("auto")
    rows = []
    for ev in prof.key_averages():
        device_us = getattr(ev, "self_device_time_total", None)
        if device_us is None:
            device_us = getattr(ev, "self_cuda_time_total", 0.0)
        rows.append({"op": ev.key[:120], "calls": ev.count, "self_device_ms": device_us / 1e3,
                     "self_cpu_ms": ev.self_cpu_time_total / 1e3})
    rows.sort(key=lambda r: (r["self_device_ms"], r["self_cpu_ms"]), reverse=True)
    return rows[:top]


@contextlib.contextmanager
def triton_switch(on: bool):
    """SASMAMBA_TRITON for the block: the model reads it on every forward, so it stays set while a lifter runs."""
    old = os.environ.get("SASMAMBA_TRITON")
    os.environ["SASMAMBA_TRITON"] = "1" if on else "0"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("SASMAMBA_TRITON", None)
        else:
            os.environ["SASMAMBA_TRITON"] = old


def h36m_clip(min_frames: int) -> Keypoints2D:
    """Real 2D: S9 then S11 sequences through each subject's first camera (exact projection, pixels, 50 fps),
    concatenated until at least `min_frames` frames; the seams are cuts, as in an edited video."""
    cams = h36m.load_cameras()
    parts, total = [], 0
    for key, world in h36m.load_poses(h36m.TEST_SUBJECTS).items():
        cam = cams[h36m.subject_of(key)][0]
        parts.append(cam.project(world).astype(np.float32))
        total += len(world)
        if total >= min_frames:
            break
    xy = np.concatenate(parts)[:min_frames]
    return Keypoints2D(xy=xy, conf=np.ones(xy.shape[:2], np.float32), fps=h36m.FPS, width=cam.width,
                       height=cam.height, source=f"H36M S9/S11 camera 0, {len(parts)} sequences")


def load_lifter(dev: torch.device, precision: str = "auto") -> Lifter:
    backend = "cuda" if dev.type == "cuda" else "torch"  # cpu: a smoke run of the same code
    return Lifter.load(backend=backend, precision=precision)


def lift_throughput(clip: Keypoints2D, dev: torch.device) -> dict:
    """`Lifter.lift` of the whole clip (flip TTA, as the product runs): input frames/s, model frames/s (windows
    x window length, flips included) over the whole call and over the model calls alone. A short lift first
    compiles the kernels."""
    lifter = load_lifter(dev)
    predict = lifter._predict  # the backend's predictor, wrapped to time the model calls
    spent = [0.0]

    def timed(x: np.ndarray) -> np.ndarray:
        t = time.perf_counter()
        out = predict(x)  # returns host arrays, so the GPU work is done
        spent[0] += time.perf_counter() - t
        return out

    lifter._predict = timed
    warm = Keypoints2D(xy=clip.xy[:2000], conf=clip.conf[:2000], fps=clip.fps, width=clip.width, height=clip.height)
    lifter.lift(warm)
    sync(dev)
    windows, spent[0] = [], 0.0
    t = time.perf_counter()
    lifter.lift(clip, progress=lambda done, total=None: windows.append(total))
    sync(dev)
    sec = time.perf_counter() - t
    model_frames = windows[0] * lifter.config.frames
    return {"scan": gpu_scan_path() or "cpu", "precision": lifter.precision, "input_frames": len(clip.xy),
            "windows": windows[0], "seconds": sec, "model_seconds": spent[0], "input_frames_per_s": len(clip.xy) / sec,
            "model_frames_per_s": model_frames / sec, "model_frames_per_s_model_calls_only": model_frames / spent[0]}


def lift_accuracy(dev: torch.device, precision: str, scan: str) -> dict:
    """engine.evaluate's regression subset P1 (mm) through the Lifter on one GPU path, beside the figure the
    shipped weights record (CPU, fp32). `scan` "torch" forces the chunked torch scan (the slow reference)."""
    lifter = load_lifter(dev, precision)
    if scan == "torch":
        lifter._predict.model.set_scan_backend("torch")
    return {"scan": scan if scan == "torch" else gpu_scan_path() or "cpu", "precision": lifter.precision,
            "p1_mm": regression_subset_p1(lifter.predict_normalized, lifter.config.frames),
            "recorded_p1_mm": (lifter.metadata.get("test") or {}).get("regression_p1_mm")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("output")
    ap.add_argument("--seconds", type=float, default=None, help="budget (default 150, --quick 120)")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--config", default="sasmamba-s")
    ap.add_argument("--batches", default="64,256", help="comma-separated batch sizes for the timings")
    ap.add_argument("--variants", type=int, default=len(VARIANTS),
                    help="time only the first this many Triton variants (a smoke run on the slow interpreter)")
    ap.add_argument("--quick", action="store_true",
                    help="of the scan variants only the default and mamba-ssm; no profiles; --seconds 120 unless given")
    ap.add_argument("--clip-frames", type=int, default=100_000, help="input frames of the end-to-end lift")
    ap.add_argument("--block-d", type=int, default=0,
                    help="force the Triton block width in the model timings (default: block_d_for's pick per batch)")
    ap.add_argument("--deform", default="both", choices=["triton", "own", "both"],
                    help="the deformable conv of the Triton-scan model timings: the Triton kernel, the model's own "
                         "(torchvision's on CUDA), or both for the A/B (default)")
    args = ap.parse_args()
    # set either way, so an inherited SASMAMBA_TRITON_DEFORM=0 cannot pass torchvision's conv off as the product's
    # in the lift / accuracy figures; `--deform own` still times the model's own conv (set_deform_impl) regardless
    os.environ["SASMAMBA_TRITON_DEFORM"] = "0" if args.deform == "own" else "1"
    if args.device == "cpu":
        os.environ.setdefault("TRITON_INTERPRET", "1")  # before triton is first imported
    dev = torch.device(args.device)
    batches = [int(v) for v in args.batches.split(",")]
    bench = Bench(args.output, args.seconds or (120.0 if args.quick else 150.0))
    rep = bench.report
    rep.update(device=torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu (interpreter smoke run)",
               config=args.config, batches=batches)
    bench.measure("triton_version", lambda: __import__("triton").__version__, need=0)
    models: list[SasMamba] = []

    def load() -> str:
        model, source = load_model(args.config, dev)
        models.append(model)
        return source

    bench.measure("model_source", load, need=0)
    if not models:
        return
    model = models[0]
    mamba = dev.type == "cuda" and cuda_scan_available()
    ref = "cuda" if mamba else "torch"  # without mamba-ssm the Triton path is still checked, against the torch scan
    check_batch = batches[0] if dev.type == "cpu" else 64
    bench.measure(f"agreement_batch{check_batch}", lambda: agreement(model, dev, check_batch, ref), need=5.0)
    # the first batch's scan variants pick the model's settings; the whole-model figures come before the other
    # batches' scan variants, so a short budget keeps what matters most
    variants = (DEFAULT_VARIANT,) if args.quick else VARIANTS[:args.variants]
    time_scans(bench, model, dev, batches[0], variants)
    for batch in batches:
        time_deform(bench, model, dev, batch, DEFORM_VARIANTS[:1] if args.quick else DEFORM_VARIANTS)
    rep["deform_triton_settings"] = dict(triton_scan.DEFORM_DEFAULTS)
    if args.block_d:  # the model timings below run the product default unless told otherwise
        triton_scan.DEFAULTS["block_d"] = args.block_d
    rep["model_triton_settings"] = dict(triton_scan.DEFAULTS)
    # the product: Lifter.load(backend="cuda") on real 2D, each GPU path; SASMAMBA_TRITON=0 gives mamba-ssm
    clips: list[Keypoints2D] = []
    bench.measure("lift_clip", lambda: clips.append(h36m_clip(args.clip_frames)) or clips[0].source, need=5.0)
    paths = [("triton", True)] + ([("mamba_ssm", False)] if mamba else [])
    for name, on in paths if clips else ():
        with triton_switch(on):
            bench.measure(f"lift_{name}", lambda: lift_throughput(clips[0], dev), need=10.0)
    accuracy = [("triton_bf16", True, "auto", "auto"), ("triton_fp32", True, "fp32", "auto")]
    if mamba:
        accuracy += [("mamba_ssm_bf16", False, "auto", "auto"), ("mamba_ssm_fp32", False, "fp32", "auto")]
    accuracy += [("torch_scan_fp32", True, "fp32", "torch")]  # the scan is forced: the switch is moot
    for name, on, precision, scan in accuracy if dev.type == "cuda" else accuracy[-1:]:
        with triton_switch(on):
            bench.measure(f"accuracy_{name}", lambda p=precision, s=scan: lift_accuracy(dev, p, s), need=8.0)
    deforms = {"triton": ["auto"], "own": [own_deform_impl(dev)], "both": ["auto", own_deform_impl(dev)]}[args.deform]
    for graph in (False, 1) if dev.type == "cuda" else (False,):
        for batch in batches:
            for backend in (ref, "triton") if mamba or dev.type == "cpu" else ("triton",):
                for deform in deforms if backend == "triton" else ["auto"]:
                    time_model(bench, model, dev, batch, backend, graph, deform)
    for backend in () if args.quick else ("triton", ref):
        bench.measure(f"profile_batch{batches[0]}_{backend}",
                      lambda backend=backend: profile_model(model, dev, batches[0], backend), need=8.0)
    for batch in batches[1:]:
        time_scans(bench, model, dev, batch, variants)
    # what the un-suffixed model_* / lift_* / accuracy_* entries ran, read at the end: a kernel that failed mid-run
    # fell back to the model's own conv (benchmarks/lifter.py counts only "triton" files as the product's)
    rep["model_triton_deform"] = "triton" if triton_scan.deform_enabled() else own_deform_impl(dev)
    rep["total_s"] = round(time.monotonic() - bench.start, 1)
    bench.write()
    print(json.dumps({k: v for k, v in rep.items() if k != "errors"}, indent=1))
    print(f"errors: {list(rep['errors'])}; wrote {args.output}")


if __name__ == "__main__":
    main()
