#!/usr/bin/python3
"""Check that every style of bench/torch_throughput.py computes the reference math.

For each case (the two shipped configs at T=25, plus variants that exercise the other code
paths: zero reset + fast_sigmoid + ce_mem loss, and a pre-encoded spike input), builds the
reference Model.forward + Model.loss (tests/ref/spikemesh_ref.py, first layer recomputed at every
step) and every style with the same float64 parameters and the same batch of 16 Fashion-MNIST
images, and compares:
  - the output spike trains (must be identical),
  - the loss (relative difference <= 1e-9),
  - every parameter gradient: max|g - g_ref| / max|g_ref| <= 1e-9 (per tensor).
Exits non-zero on any mismatch.

  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/torch_check.py
"""
import os
import sys

for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_k, "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_throughput as tt  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
TOL = 1e-9
T, B = 25, 16
DT = torch.float64

STYLES = [  # (label, style, options)
    ("layerwise", "layerwise", {}),
    ("layerwise+reuse", "layerwise", {"reuse_static": True}),
    ("snntorch", "snntorch", {}),
    ("fast", "fast", {"jit": True, "channels_last": True}),         # the benchmark's defaults
    ("fast jit-off", "fast", {"jit": False, "channels_last": True}),
    ("fast nchw", "fast", {"jit": True, "channels_last": False}),
]


def cases():
    mlp = tt.ref.load_config(os.path.join(ROOT, "configs", "fmnist_mlp.yaml"))
    csnn = tt.ref.load_config(os.path.join(ROOT, "configs", "fmnist_csnn.yaml"))
    yield "fmnist_mlp", mlp, False
    yield "fmnist_csnn", csnn, False
    v = tt.json.loads(tt.json.dumps(mlp))
    v["model"].update(reset="zero", surrogate="fast_sigmoid")
    v["train"]["loss"] = "ce_mem"
    yield "mlp zero/fsig/ce_mem", v, False
    v = tt.json.loads(tt.json.dumps(csnn))
    v["model"]["reset"] = "zero"
    yield "csnn zero-reset", v, False
    yield "csnn spike input", csnn, True


def grads(model, params, x, y, forward):
    for wb in params:
        for p in wb:
            p.grad = None
    S, U = forward(model, params, x)
    loss = model.loss([S], [U], y)
    loss.backward()
    return S.detach(), float(loss), [p.grad.clone() for wb in params for p in wb]


def main():
    torch.set_num_threads(1)
    images = tt.read_idx("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
    labels = tt.read_idx("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz")
    ok = True
    print("%-22s %-16s %6s %10s %10s %10s  %s" % ("case", "style", "spikes", "loss", "rel(loss)",
                                                   "max rel(g)", "result"))
    for name, cfg, spike_input in cases():
        model = tt.build_model(cfg, time_steps=T, batch=B)
        params = tt.init_params(model, int(cfg.get("seed", 0)), DT)
        x = torch.from_numpy(images[:B].astype("float64") / 255.0).reshape(B, *model.input_shape)
        y = torch.from_numpy(labels[:B].astype("int64"))
        if spike_input:  # already-encoded [T, B, ...] spikes: no static first layer
            x = torch.bernoulli(x.unsqueeze(0).expand(T, *x.shape),
                                generator=torch.Generator().manual_seed(1))
        ref_fwd = lambda m, p, xx: tt.forward_layerwise(m, p, xx, reuse_static=False)  # noqa
        S0, l0, g0 = grads(model, params, x, y, ref_fwd)
        rate = float(S0.mean())
        assert l0 != 0 and all(float(g.abs().max()) > 0 for g in g0), "degenerate case " + name
        for label, style, opts in STYLES:
            S, l, g = grads(model, params, x, y, tt.make_forward(style, **opts))
            same = bool(torch.equal(S, S0))
            rl = abs(l - l0) / abs(l0)
            rg = max(float((a - b).abs().max() / b.abs().max()) for a, b in zip(g, g0))
            good = same and rl <= TOL and rg <= TOL
            ok &= good
            print("%-22s %-16s %6s %10.6f %10.1e %10.1e  %s" % (
                name, label, "same" if same else "DIFF", l, rl, rg, "ok" if good else "FAIL"))
        print("%-22s output firing rate %.3f, loss %.6f" % ("", rate, l0))
    print("all styles agree with the reference (tol %g)" % TOL if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
