"""Independent PyTorch reference for spikemesh (see /work/shared/DESIGN.md, "The math").

Builds the network described by a spikemesh YAML config and runs forward + loss with plain
torch autograd. The only custom piece is the spike function (Heaviside forward, surrogate
backward). Unknown config keys are ignored here (the C parser is the strict one).

Semantics (per layer): weighted op (dense | conv2d, with bias) -> optional pooling of the
op's output current (max | avg, kernel = stride = pool_size, floor) -> LIF:
    r[t] = H(U[t-1] - th)            (detached, r[1] = 0)
    subtract: U[t] = b*U[t-1] + I[t] - r[t]*th
    zero:     U[t] = (b*U[t-1] + I[t]) * (1 - r[t])
    S[t] = H(U[t] - th)  (strict), backward = surrogate(U[t] - th)
"""
import math
import os

import torch
import torch.nn.functional as F
import yaml

LAYER_LIF_KEYS = ("beta", "threshold", "reset", "surrogate", "surrogate_alpha", "surrogate_slope")
MODEL_DEFAULTS = dict(beta=0.95, threshold=1.0, reset="subtract", surrogate="atan",
                      surrogate_alpha=2.0, surrogate_slope=25.0)


# ----------------------------------------------------------------------------- spike function
def surrogate_grad(kind, v, alpha=2.0, slope=25.0):
    """dS/dU at v = U - theta, for tensors or floats: atan (a/2) / (1 + (pi*a*v/2)^2),
    fast_sigmoid 1 / (1 + k*|v|)^2."""
    if kind == "atan":
        return (alpha / 2.0) / (1.0 + (math.pi * alpha / 2.0 * v) ** 2)
    if kind == "fast_sigmoid":
        return 1.0 / (1.0 + slope * abs(v)) ** 2
    raise ValueError(kind)


class Spike(torch.autograd.Function):
    """S = H(v), strict (fires only when v > 0); the backward is the surrogate."""

    @staticmethod
    def forward(ctx, v, kind, alpha, slope):
        ctx.save_for_backward(v)
        ctx.kind, ctx.alpha, ctx.slope = kind, alpha, slope
        return (v > 0).to(v.dtype)

    @staticmethod
    def backward(ctx, g):
        (v,) = ctx.saved_tensors
        return g * surrogate_grad(ctx.kind, v, ctx.alpha, ctx.slope), None, None, None


# ----------------------------------------------------------------------------- config
def load_config(path_or_text):
    """Parse a config from a file path or from YAML text."""
    if os.path.exists(path_or_text):
        with open(path_or_text) as f:
            return yaml.safe_load(f)
    return yaml.safe_load(path_or_text)


class LayerSpec:
    def __init__(self, d, model, in_shape):
        self.kind = d["type"]
        if self.kind not in ("dense", "conv2d"):
            raise ValueError("layer type %r" % self.kind)
        self.out = int(d["out"])
        for k in LAYER_LIF_KEYS:
            setattr(self, k, d.get(k, model.get(k, MODEL_DEFAULTS[k])))
        self.beta = min(max(float(self.beta), 0.0), 1.0)
        self.threshold = float(self.threshold)
        self.surrogate_alpha = float(self.surrogate_alpha)
        self.surrogate_slope = float(self.surrogate_slope)
        self.pool = d.get("pool", "none") or "none"
        self.pool_size = int(d.get("pool_size", 2))
        self.in_shape = tuple(in_shape)
        if self.kind == "dense":
            self.in_features = int(math.prod(in_shape))
            self.weight_shape = (self.out, self.in_features)
            self.fan_in = self.in_features
            if self.pool != "none":
                raise ValueError("pooling on a dense layer")
            self.op_shape = (self.out,)
        else:
            if len(in_shape) != 3:
                raise ValueError("conv2d needs a [C,H,W] input, got %r" % (in_shape,))
            c, h, w = in_shape
            self.kernel = int(d["kernel"])
            self.stride = int(d.get("stride", 1))
            self.padding = int(d.get("padding", 0))
            self.weight_shape = (self.out, c, self.kernel, self.kernel)
            self.fan_in = c * self.kernel * self.kernel
            oh = (h + 2 * self.padding - self.kernel) // self.stride + 1
            ow = (w + 2 * self.padding - self.kernel) // self.stride + 1
            self.op_shape = (self.out, oh, ow)
        if self.pool != "none":
            if self.pool not in ("max", "avg"):
                raise ValueError("pool %r" % self.pool)
            _, oh, ow = self.op_shape
            self.out_shape = (self.out, oh // self.pool_size, ow // self.pool_size)
        else:
            self.out_shape = self.op_shape
        self.name = None  # set by Model

    def op(self, x, w, b):
        """x: [N, *in_shape] -> current [N, *out_shape] (op + pooling)."""
        if self.kind == "dense":
            return F.linear(x.reshape(x.shape[0], -1), w, b)
        y = F.conv2d(x, w, b, stride=self.stride, padding=self.padding)
        if self.pool == "max":
            y = F.max_pool2d(y, self.pool_size, self.pool_size)
        elif self.pool == "avg":
            y = F.avg_pool2d(y, self.pool_size, self.pool_size)
        return y

    def spike(self, v):
        return Spike.apply(v, self.surrogate, self.surrogate_alpha, self.surrogate_slope)

    def lif(self, cur):
        """cur: [T, B, ...] input current -> (spikes [T,B,...], mem [T,B,...])."""
        th, beta = self.threshold, self.beta
        u = torch.zeros_like(cur[0])
        spk, mem = [], []
        for t in range(cur.shape[0]):
            r = (u > th).to(u.dtype).detach()   # H(U[t-1] - th), no gradient
            if self.reset == "subtract":
                u = beta * u + cur[t] - r * th
            elif self.reset == "zero":
                u = (beta * u + cur[t]) * (1.0 - r)
            else:
                raise ValueError("reset %r" % self.reset)
            spk.append(self.spike(u - th))
            mem.append(u)
        return torch.stack(spk), torch.stack(mem)


class Model:
    def __init__(self, cfg):
        self.cfg = cfg
        m = cfg["model"]
        self.input_shape = tuple(int(v) for v in m["input"])
        self.T = int(m["time_steps"])
        self.encoder = m.get("encoder", "direct")
        shape = self.input_shape
        self.layers = []
        for i, d in enumerate(m["layers"]):
            spec = LayerSpec(d, m, shape)
            spec.name = "%d_%s" % (i, spec.kind)
            self.layers.append(spec)
            shape = spec.out_shape
        tr = cfg.get("train", {}) or {}
        self.loss_kind = tr.get("loss", "ce_rate")
        self.correct_rate = float(tr.get("correct_rate", 1.0))
        self.incorrect_rate = float(tr.get("incorrect_rate", 0.0))
        self.batch = int(tr.get("batch", 1))

    # -------------------------------------------------------------- parameters
    def init_params(self, gen, gains=None, dtype=torch.float32):
        """PyTorch-default init (Kaiming-uniform a=sqrt(5) -> U(+-1/sqrt(fan_in)) for weights and
        biases), times a per-layer gain. Returns a list of (weight, bias) tensors."""
        params = []
        for i, L in enumerate(self.layers):
            g = 1.0 if gains is None else gains[i]
            bound = 1.0 / math.sqrt(L.fan_in)
            w = (torch.rand(L.weight_shape, generator=gen, dtype=torch.float64) * 2 - 1) * bound * g
            b = (torch.rand((L.out,), generator=gen, dtype=torch.float64) * 2 - 1) * bound * g
            params.append((w.to(dtype), b.to(dtype)))
        return params

    # -------------------------------------------------------------- forward
    def encode(self, x):
        """x: [B, *input] static image or [T, B, N] spikes -> [T, B, *input] (or None for
        'static' direct input, returned as (x, True))."""
        if x.dim() == len(self.input_shape) + 2:      # already [T, B, ...] spikes
            return x, False
        if self.encoder == "direct":
            return x, True
        if self.encoder == "rate":
            return torch.bernoulli(x.clamp(0, 1).unsqueeze(0).expand(self.T, *x.shape)), False
        raise ValueError("encoder %r not supported in the reference" % self.encoder)

    def forward(self, params, x, reuse_static=False):
        """Returns (spikes list, mem list), each tensor [T, B, *out_shape]."""
        inp, static = self.encode(x)
        T = self.T
        spikes, mems = [], []
        for i, (L, (w, b)) in enumerate(zip(self.layers, params)):
            if static:
                # direct encoder: the same image x at every step
                if reuse_static:  # compute the current once (identical math, faster)
                    c = L.op(inp, w, b)
                    cur = c.unsqueeze(0).expand(T, *c.shape)
                else:
                    xs = inp.unsqueeze(0).expand(T, *inp.shape).reshape(T * inp.shape[0], *inp.shape[1:])
                    c = L.op(xs, w, b)
                    cur = c.reshape(T, inp.shape[0], *c.shape[1:])
                static = False
            else:
                Tn, B = inp.shape[0], inp.shape[1]
                c = L.op(inp.reshape(Tn * B, *inp.shape[2:]), w, b)
                cur = c.reshape(Tn, B, *c.shape[1:])
            s, u = L.lif(cur)
            spikes.append(s)
            mems.append(u)
            inp = s
        return spikes, mems

    def loss(self, spikes, mems, y):
        S = spikes[-1]             # [T, B, K]
        T = S.shape[0]
        if self.loss_kind == "ce_rate":
            return sum(F.cross_entropy(S[t], y) for t in range(T)) / T
        if self.loss_kind == "ce_count":
            return F.cross_entropy(S.sum(0), y)
        if self.loss_kind == "mse_count":
            C = S.sum(0)
            tgt = torch.full_like(C, self.incorrect_rate * T)
            tgt.scatter_(1, y.view(-1, 1), self.correct_rate * T)
            return ((C - tgt) ** 2).mean() / T
        if self.loss_kind == "ce_mem":
            return F.cross_entropy(mems[-1].sum(0), y)
        raise ValueError("loss %r" % self.loss_kind)
