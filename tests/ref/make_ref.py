#!/usr/bin/python3
"""Write the spikemesh reference cases to tests/data/ref/<case>/.

Run from anywhere:  /usr/bin/python3 tests/ref/make_ref.py
Each case: config.yaml, checkpoint.h5 (float32 weights), batch.h5 (float32 x, int32 y),
grads.h5 (float64 loss, float32 weight/bias grads, float32 forward spikes/mem per layer).
Computation is float64 from the stored float32 weights/inputs. Every case is checked for
spike margins (|U - theta| >= 1e-3 everywhere), max-pool gaps, firing rates, and (dense
cases) against an independent numpy forward + hand-written reverse-time BPTT.
"""
import math
import os
import shutil
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import h5py
import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import spikemesh_ref as ref  # noqa: E402

OUT = os.path.normpath(os.path.join(HERE, "..", "data", "ref"))
MARGIN = 1e-3          # min |U - theta| required
POOL_GAP = 1e-4        # min gap between the max and any other value of a max-pool window
RATE_LO, RATE_HI = 0.05, 0.40
RATE_TARGET = 0.20       # firing-rate target when tuning a layer's init gain (subtract reset)
RATE_TARGET_ZERO = 0.12  # zero reset: a neuron fires at most every other step, rates saturate
GAIN_GRID = [0.5 * 1.08 ** k for k in range(60)]   # 0.5 .. ~47

torch.set_default_dtype(torch.float64)

# ----------------------------------------------------------------------------- cases
CASES = [
    dict(name="mlp_atan_subtract_ce_rate", seed=101, batch=4,
         model=dict(input=[1, 6, 6], beta=0.9, threshold=1.0, reset="subtract", surrogate="atan",
                    surrogate_alpha=2.0, surrogate_slope=25.0),
         layers=[dict(type="dense", out=24), dict(type="dense", out=5)],
         train=dict(loss="ce_rate")),
    dict(name="mlp_fastsig_zero_ce_count", seed=202, batch=4,
         model=dict(input=[1, 6, 6], beta=0.9, threshold=1.0, reset="zero", surrogate="fast_sigmoid",
                    surrogate_alpha=2.0, surrogate_slope=25.0),
         layers=[dict(type="dense", out=24), dict(type="dense", out=5)],
         train=dict(loss="ce_count")),
    dict(name="mlp_atan_zero_mse_count", seed=303, batch=5,
         model=dict(input=[1, 6, 6], beta=0.9, threshold=1.0, reset="zero", surrogate="atan",
                    surrogate_alpha=2.0, surrogate_slope=25.0),
         layers=[dict(type="dense", out=24, beta=0.7, threshold=1.2), dict(type="dense", out=5, beta=0.85)],
         train=dict(loss="mse_count", correct_rate=0.8, incorrect_rate=0.1)),
    dict(name="mlp_fastsig_subtract_ce_mem", seed=404, batch=4,
         model=dict(input=[1, 6, 6], beta=0.9, threshold=1.0, reset="subtract", surrogate="fast_sigmoid",
                    surrogate_alpha=2.0, surrogate_slope=25.0),
         layers=[dict(type="dense", out=24), dict(type="dense", out=5)],
         train=dict(loss="ce_mem")),
    dict(name="conv_atan_subtract_ce_rate", seed=505, batch=4,
         model=dict(input=[2, 12, 12], beta=0.9, threshold=1.0, reset="subtract", surrogate="atan",
                    surrogate_alpha=2.0, surrogate_slope=25.0),
         layers=[dict(type="conv2d", out=4, kernel=3, stride=1, padding=1, pool="max", pool_size=2),
                 dict(type="conv2d", out=6, kernel=3, stride=1, padding=1, pool="avg", pool_size=2),
                 dict(type="dense", out=5)],
         train=dict(loss="ce_rate")),
    dict(name="conv_fastsig_zero_ce_count", seed=606, batch=5,
         model=dict(input=[1, 11, 11], beta=0.9, threshold=1.0, reset="zero", surrogate="fast_sigmoid",
                    surrogate_alpha=2.0, surrogate_slope=25.0),
         layers=[dict(type="conv2d", out=3, kernel=3, stride=2, padding=1, pool="max", pool_size=2),
                 dict(type="dense", out=4)],
         train=dict(loss="ce_count")),
    dict(name="events_atan_subtract_ce_count", seed=707, batch=4, events=0.2,
         model=dict(input=[20], beta=0.9, threshold=1.0, reset="subtract", surrogate="atan",
                    surrogate_alpha=2.0, surrogate_slope=25.0),
         layers=[dict(type="dense", out=16), dict(type="dense", out=3)],
         train=dict(loss="ce_count")),
]
T = 8


def yfmt(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(yfmt(a) for a in v) + "]"
    return str(v)


def config_text(case, seed):
    m = case["model"]
    lines = ["seed: %d" % seed, "model:", "  input: %s" % yfmt(m["input"]),
             "  time_steps: %d" % T, "  encoder: direct"]
    for k in ("beta", "threshold", "reset", "surrogate", "surrogate_alpha", "surrogate_slope"):
        lines.append("  %s: %s" % (k, yfmt(m[k])))
    lines.append("  layers:")
    for L in case["layers"]:
        lines.append("    - {" + ", ".join("%s: %s" % (k, yfmt(v)) for k, v in L.items()) + "}")
    lines += ["train:", "  batch: %d" % case["batch"]]
    for k, v in case["train"].items():
        lines.append("  %s: %s" % (k, yfmt(v)))
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- helpers
def f32(t):
    """Round to float32, return the float64 cast."""
    return t.to(torch.float32).to(torch.float64)


def draw_inputs(case, model, gen):
    B = case["batch"]
    K = model.layers[-1].out
    if "events" in case:
        x = (torch.rand((T, B) + model.input_shape, generator=gen) < case["events"]).to(torch.float64)
    else:
        x = f32(torch.rand((B,) + model.input_shape, generator=gen))
    y = torch.randint(0, K, (B,), generator=gen)
    return x, y


def scaled(base, gains):
    return [(f32(w * g), f32(b * g)) for (w, b), g in zip(base, gains)]


def rates_of(spikes):
    return [float(s.mean()) for s in spikes]


def margins(model, mems):
    return [float((u - L.threshold).abs().min()) for L, u in zip(model.layers, mems)]


def pool_gaps(model, params, x):
    """Min gap (max - second largest) over all max-pool windows, per max-pool layer."""
    out = {}
    with torch.no_grad():
        spikes, _ = model.forward(params, x)
        inp = x
        for i, L in enumerate(model.layers):
            if L.pool == "max":
                w, b = params[i]
                xs = inp if i > 0 or inp.dim() == len(model.input_shape) + 2 else inp.unsqueeze(0)
                flat = xs.reshape(-1, *xs.shape[2:])
                y = F.conv2d(flat, w, b, stride=L.stride, padding=L.padding)
                p = L.pool_size
                N, C, H, W = y.shape
                y = y[:, :, :H // p * p, :W // p * p].reshape(N, C, H // p, p, W // p, p)
                y = y.permute(0, 1, 2, 4, 3, 5).reshape(N, C, H // p, W // p, p * p)
                top2 = y.topk(2, dim=-1).values
                gap = top2[..., 0] - top2[..., 1]
                out[L.name] = (float(gap.min()), int((gap == 0).sum()))
            inp = spikes[i]
    return out


def tune(case, model, seed):
    gen = torch.Generator().manual_seed(seed)
    x, y = draw_inputs(case, model, gen)
    base = model.init_params(gen, dtype=torch.float64)
    gains = [1.0] * len(model.layers)
    with torch.no_grad():
        for l in range(len(model.layers)):
            # smallest gain whose rate reaches the target (zero reset caps the rate at 1/2 and
            # the rate is not monotone in the gain, so do not just take the closest one)
            target = RATE_TARGET if model.layers[l].reset == "subtract" else RATE_TARGET_ZERO
            best = None
            for g in GAIN_GRID:
                gains[l] = g
                sp, _ = model.forward(scaled(base, gains), x)
                r = float(sp[l].mean())
                if best is None or abs(r - target) < abs(best[1] - target):
                    best = (g, r)
                if r >= target:
                    break
            gains[l] = best[0]
    return x, y, scaled(base, gains), gains


# ----------------------------------------------------------------------------- independent check
def numpy_forward_backward(model, params, x, y):
    """Dense-only networks: numpy forward with a plain Python per-neuron LIF loop, and
    hand-written BPTT (reverse time loop). Returns (loss, spikes, mems, grads)."""
    P = [(w.numpy(), b.numpy()) for w, b in params]
    xn = x.numpy()
    y = y.numpy()
    if xn.ndim == len(model.input_shape) + 2:
        inp = xn.reshape(xn.shape[0], xn.shape[1], -1)
    else:
        inp = np.broadcast_to(xn.reshape(1, xn.shape[0], -1), (T, xn.shape[0], xn[0].size))
    Tn, B = inp.shape[0], inp.shape[1]
    ins, curs, Ss, Us, Rs = [], [], [], [], []
    for L, (w, b) in zip(model.layers, P):
        cur = np.einsum("tbi,oi->tbo", inp, w) + b
        S = np.zeros_like(cur)
        U = np.zeros_like(cur)
        R = np.zeros_like(cur)
        for bi in range(B):
            for n in range(cur.shape[2]):
                u = 0.0
                for t in range(Tn):
                    r = 1.0 if u > L.threshold else 0.0
                    if L.reset == "subtract":
                        u = L.beta * u + cur[t, bi, n] - r * L.threshold
                    else:
                        u = (L.beta * u + cur[t, bi, n]) * (1.0 - r)
                    U[t, bi, n] = u
                    R[t, bi, n] = r
                    S[t, bi, n] = 1.0 if u > L.threshold else 0.0
        ins.append(inp); curs.append(cur); Ss.append(S); Us.append(U); Rs.append(R)
        inp = S

    def softmax(z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def ce(z):
        m = z.max(axis=1)
        lse = m + np.log(np.exp(z - m[:, None]).sum(axis=1))
        return float(np.mean(lse - z[np.arange(B), y]))

    S, U = Ss[-1], Us[-1]
    K = S.shape[2]
    onehot = np.zeros((B, K)); onehot[np.arange(B), y] = 1.0
    gS = np.zeros_like(S)
    gUext = np.zeros_like(U)
    kind = model.loss_kind
    if kind == "ce_rate":
        loss = sum(ce(S[t]) for t in range(Tn)) / Tn
        for t in range(Tn):
            gS[t] = (softmax(S[t]) - onehot) / (Tn * B)
    elif kind == "ce_count":
        C = S.sum(0)
        loss = ce(C)
        gS[:] = (softmax(C) - onehot) / B
    elif kind == "mse_count":
        C = S.sum(0)
        tgt = np.where(onehot > 0, model.correct_rate * Tn, model.incorrect_rate * Tn)
        loss = float(np.mean((C - tgt) ** 2) / Tn)
        gS[:] = 2.0 * (C - tgt) / (B * K * Tn)
    elif kind == "ce_mem":
        M = U.sum(0)
        loss = ce(M)
        gUext[:] = (softmax(M) - onehot) / B
    else:
        raise ValueError(kind)

    grads = [None] * len(model.layers)
    for l in reversed(range(len(model.layers))):
        L = model.layers[l]
        w, b = P[l]
        U, R = Us[l], Rs[l]
        sg = np.vectorize(lambda v: ref.surrogate_grad(L.surrogate, v, L.surrogate_alpha, L.surrogate_slope))(U - L.threshold)
        gI = np.zeros_like(U)
        carry = np.zeros_like(U[0])           # dL/dU[t+1] * dU[t+1]/dU[t]
        for t in reversed(range(Tn)):
            gU = gS[t] * sg[t] + gUext[t] + carry
            if L.reset == "subtract":
                gI[t] = gU
                carry = gU * L.beta
            else:
                gI[t] = gU * (1.0 - R[t])
                carry = gU * L.beta * (1.0 - R[t])
        gW = np.einsum("tbo,tbi->oi", gI, ins[l])
        gb = gI.sum(axis=(0, 1))
        grads[l] = (gW, gb)
        if l > 0:
            gS = np.einsum("tbo,oi->tbi", gI, w)
            gUext = np.zeros_like(gS)
    return loss, Ss, Us, grads


def python_lif_check(model, params, x, spikes, mems):
    """Conv-capable forward check: currents from torch ops, LIF as a plain per-neuron loop."""
    worst_u, spike_mismatch = 0.0, 0
    inp = x
    with torch.no_grad():
        for i, L in enumerate(model.layers):
            w, b = params[i]
            if inp.dim() == len(model.input_shape) + 1:     # static image, same every step
                c = L.op(inp, w, b)
                cur = c.unsqueeze(0).expand(T, *c.shape)
            else:
                c = L.op(inp.reshape(-1, *inp.shape[2:]), w, b)
                cur = c.reshape(inp.shape[0], inp.shape[1], *c.shape[1:])
            cf = cur.reshape(cur.shape[0], -1).tolist()
            uf = mems[i].reshape(cur.shape[0], -1).tolist()
            sf = spikes[i].reshape(cur.shape[0], -1).tolist()
            for n in range(len(cf[0])):
                u = 0.0
                for t in range(len(cf)):
                    r = 1.0 if u > L.threshold else 0.0
                    if L.reset == "subtract":
                        u = L.beta * u + cf[t][n] - r * L.threshold
                    else:
                        u = (L.beta * u + cf[t][n]) * (1.0 - r)
                    worst_u = max(worst_u, abs(u - uf[t][n]))
                    spike_mismatch += int((1.0 if u > L.threshold else 0.0) != sf[t][n])
            inp = spikes[i]
    return worst_u, spike_mismatch


def float32_agrees(model, params, x, y):
    """Is the case well conditioned for a float32 engine? Run the same math in float32 torch
    and require the loss and every gradient to meet the C test's tolerance (1e-5 relative or
    1e-6 absolute, element-wise) against float64. A steep surrogate (fast_sigmoid, k = 25)
    near threshold turns float32 rounding of U into ~1e-5 relative gradient error, so some
    draws cannot be matched by ANY float32 implementation; those are redrawn."""
    def grads_in(dtype):
        ps = [(w.to(dtype).clone().requires_grad_(True), b.to(dtype).clone().requires_grad_(True))
              for w, b in params]
        spikes, mems = model.forward(ps, x.to(dtype))
        loss = model.loss(spikes, mems, y)
        flat = [p for wb in ps for p in wb]
        return [float(loss)] + [g.double() for g in torch.autograd.grad(loss, flat)]
    lo, hi = grads_in(torch.float32), grads_in(torch.float64)
    def ok(a, b):
        err = (a - b).abs()
        return bool(((err <= 1e-6) | (err <= 1e-5 * b.abs())).all())
    if not ok(torch.tensor(lo[0]), torch.tensor(hi[0])):
        return False
    return all(ok(a, b) for a, b in zip(lo[1:], hi[1:]))


# ----------------------------------------------------------------------------- main
def build_case(case):
    for attempt in range(400):
        seed = case["seed"] + 1000 * attempt
        text = config_text(case, seed)
        model = ref.Model(ref.load_config(text))
        x, y, params, gains = tune(case, model, seed)
        with torch.no_grad():
            spikes, mems = model.forward(params, x)
        rates = rates_of(spikes)
        marg = margins(model, mems)
        gaps = pool_gaps(model, params, x)
        ok = all(RATE_LO <= r <= RATE_HI for r in rates) and min(marg) >= MARGIN
        ok = ok and all(g >= POOL_GAP for g, _ in gaps.values())
        ok = ok and float32_agrees(model, params, x, y)
        if ok:
            return seed, text, model, x, y, params, gains, rates, marg, gaps, attempt
    raise RuntimeError("no acceptable draw for " + case["name"])


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    all_ok = True
    for case in CASES:
        seed, text, model, x, y, params, gains, rates, marg, gaps, attempt = build_case(case)
        params = [(w.clone().requires_grad_(True), b.clone().requires_grad_(True)) for w, b in params]
        spikes, mems = model.forward(params, x)
        loss = model.loss(spikes, mems, y)
        flat = [p for wb in params for p in wb]
        grads = torch.autograd.grad(loss, flat)
        gpairs = [(grads[2 * i], grads[2 * i + 1]) for i in range(len(model.layers))]

        print("== %s  seed=%d (attempt %d)  loss=%.12f" % (case["name"], seed, attempt, float(loss)))
        for i, L in enumerate(model.layers):
            gw, gb = gpairs[i]
            print("   %-9s gain=%.3f rate=%.3f min|U-th|=%.4g  nonzero grad W %d/%d b %d/%d  |gW|max=%.3g"
                  % (L.name, gains[i], rates[i], marg[i], int((gw != 0).sum()), gw.numel(),
                     int((gb != 0).sum()), gb.numel(), float(gw.abs().max())))
        for name, (g, ties) in gaps.items():
            print("   max-pool %s: min window gap %.4g, exact ties %d" % (name, g, ties))

        # self-checks
        du, smis = python_lif_check(model, [(w.detach(), b.detach()) for w, b in params], x,
                                    [s.detach() for s in spikes], [u.detach() for u in mems])
        print("   check forward LIF vs plain Python loop: max|dU|=%.3g spike mismatches=%d" % (du, smis))
        all_ok &= du < 1e-12 and smis == 0
        if all(L.kind == "dense" for L in model.layers):
            nl, nS, nU, ng = numpy_forward_backward(model, [(w.detach(), b.detach()) for w, b in params], x, y)
            dl = abs(nl - float(loss))
            dsu = max(max(float(np.abs(a - s.detach().numpy()).max()) for a, s in zip(nS, spikes)),
                      max(float(np.abs(a - u.detach().numpy()).max()) for a, u in zip(nU, mems)))
            dg = 0.0
            for (gw, gb), (mw, mb) in zip(gpairs, ng):
                dg = max(dg, float(np.abs(gw.numpy() - mw).max()), float(np.abs(gb.numpy() - mb).max()))
            print("   check vs numpy forward + manual BPTT: |dloss|=%.3g max|d fwd|=%.3g max|d grad|=%.3g"
                  % (dl, dsu, dg))
            all_ok &= dl < 1e-12 and dsu < 1e-12 and dg < 1e-12

        # write files
        d = os.path.join(OUT, case["name"])
        os.makedirs(d)
        with open(os.path.join(d, "config.yaml"), "w") as f:
            f.write(text)
        with h5py.File(os.path.join(d, "checkpoint.h5"), "w") as f:
            m = f.create_group("meta")
            m.attrs["format"] = "spikemesh-checkpoint"
            m.attrs["version"] = np.int32(1)
            m.attrs["epoch"] = np.int64(0)
            m.attrs["step"] = np.int64(0)
            m.attrs["seed"] = np.int64(seed)
            m.attrs["config"] = text
            for L, (w, b) in zip(model.layers, params):
                g = f.create_group("layers/" + L.name)
                g.create_dataset("weight", data=w.detach().numpy().astype(np.float32))
                g.create_dataset("bias", data=b.detach().numpy().astype(np.float32))
        with h5py.File(os.path.join(d, "batch.h5"), "w") as f:
            f.create_dataset("x", data=x.numpy().astype(np.float32))
            f.create_dataset("y", data=y.numpy().astype(np.int32))
        with h5py.File(os.path.join(d, "grads.h5"), "w") as f:
            f.create_dataset("loss", data=np.float64(float(loss)))
            for L, (gw, gb), s, u in zip(model.layers, gpairs, spikes, mems):
                g = f.create_group("layers/" + L.name)
                g.create_dataset("weight_grad", data=gw.numpy().astype(np.float32))
                g.create_dataset("bias_grad", data=gb.numpy().astype(np.float32))
                h = f.create_group("forward/" + L.name)
                h.create_dataset("spikes", data=s.detach().numpy().astype(np.float32))
                h.create_dataset("mem", data=u.detach().numpy().astype(np.float32))
        # the stored float32 values must be exactly what was computed with
        with h5py.File(os.path.join(d, "checkpoint.h5")) as f:
            for L, (w, b) in zip(model.layers, params):
                assert np.array_equal(f["layers/%s/weight" % L.name][()].astype(np.float64), w.detach().numpy())
                assert np.array_equal(f["layers/%s/bias" % L.name][()].astype(np.float64), b.detach().numpy())
        with h5py.File(os.path.join(d, "batch.h5")) as f:
            assert np.array_equal(f["x"][()].astype(np.float64), x.numpy())
    total = sum(os.path.getsize(os.path.join(r, n)) for r, _, ns in os.walk(OUT) for n in ns)
    print("total reference data: %.1f KB in %s" % (total / 1024, OUT))
    print("ALL SELF-CHECKS PASSED" if all_ok else "SELF-CHECK FAILURE")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
