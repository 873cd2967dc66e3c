#!/usr/bin/python3
"""PyTorch (CPU) training throughput for the network of a spikemesh config.

Same math as the C engine (tests/ref/spikemesh_ref.py builds the network and defines it):
per layer op (dense | conv2d) -> optional pooling of the current -> LIF neuron
(r[t] = H(U[t-1] - th) detached; subtract: U[t] = b*U[t-1] + I[t] - r[t]*th; zero reset also
supported), spike S[t] = H(U[t] - th) with a surrogate gradient, BPTT through all T steps,
the config's loss (mse_count for the shipped configs), Adam. Data: Fashion-MNIST train set.

  /usr/bin/python3 bench/torch_throughput.py --config cfg.yaml --style fast --batches 20 --threads 1

Prints one line of JSON. Keys of the config that are not needed here are ignored.

Styles (all compute the same loss and gradients; bench/torch_check.py verifies this in float64):

  layerwise  (default; the script's original behaviour) the reference Model.forward: layer by
             layer over all T at once, the op on [T*B, ...] tensors, the LIF loop in Python with
             plain autograd (one small graph node per op per step). With the direct encoder the
             image is repeated T times and the first layer's op recomputed on [T*B, ...];
             --reuse-static computes it once per minibatch instead (identical math).
  snntorch   the way snnTorch tutorials write training: an outer Python loop over time steps,
             inside it every layer in order (op -> pool -> LIF step), membranes carried between
             steps, the output layer's spikes collected per step; the first layer's op is
             recomputed from the image at every step. Spike = the reference Spike autograd
             function. This is what a typical user of the most common SNN library runs.
  fast       the fastest formulation we found for the same math on CPU: layer by layer over all
             T (ops on [T*B, ...]), the static first-layer current computed once per minibatch,
             and the LIF recurrence of each layer as ONE custom autograd.Function whose forward
             runs the T-step loop without building a graph (in place into preallocated [T, ...]
             buffers, TorchScript-compiled by default) and saves only U; its backward is the
             hand-written BPTT g[t] = dS[t]*surrogate'(U[t]-th) + beta*g[t+1], dI[t] = g[t]
             (for a static current directly dI = sum_t (1+beta+..+beta^t) dS[t]*surrogate'[t]).
             Conv layers run channels_last (oneDNN's fast path; --channels-last off to compare),
             and glibc is told to keep freed memory (--malloc keep): without it ~20 % of the CPU
             time goes to page faults on freshly mmap'd tensors (PyTorch's CPU tuning guide
             recommends jemalloc/tcmalloc for the same reason; neither is installed here).

Why these are the fair comparisons: all styles do the same math as the C engine (float32, full
BPTT over all T, Adam) on the same number of threads, so the engine is measured against what a
typical snnTorch user runs (snntorch) and against the best PyTorch can do for the same work
(fast, which like the engine computes the static first-layer current once), not against
autograd overhead alone. BLAS/OpenMP thread counts are pinned to --threads before torch loads
(OpenBLAS would otherwise use every core), and OMP_WAIT_POLICY=PASSIVE is the default, as for the
C engine in bench/throughput.sh (--omp-wait-policy to change it).

JSON: samples_per_s (wall clock over --batches after --warmup), samples_per_cpu_s (process CPU
time; less sensitive to a busy machine), peak_rss_mb (ru_maxrss after the run; setup_rss_mb is
the same before the first batch: torch itself + the uint8 data set, ~300 MB), param_count,
page_faults_per_batch, and the settings used.
"""
import argparse
import gzip
import json
import math
import os
import resource
import sys
import time


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--style", choices=("layerwise", "snntorch", "fast"), default="layerwise")
    ap.add_argument("--reuse-static", action="store_true",
                    help="layerwise only: first layer's current once per minibatch")
    ap.add_argument("--time-steps", "-T", type=int, help="override model.time_steps")
    ap.add_argument("--batch", "-B", type=int, help="override train.batch")
    ap.add_argument("--hidden", type=int,
                    help="override the width of the first dense hidden layer (MLP scaling runs)")
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--train-limit", type=int, default=0,
                    help="keep only the first N training images (0: all), as data.train_limit does")
    ap.add_argument("--omp-wait-policy", choices=("passive", "active", "default"),
                    help="passive (the default unless OMP_WAIT_POLICY is set), active, or "
                         "default = leave it to libgomp (removes OMP_WAIT_POLICY)")
    ap.add_argument("--mkldnn", choices=("on", "off"), default="on",
                    help="torch.backends.mkldnn (oneDNN convolutions)")
    ap.add_argument("--malloc", choices=("default", "keep"),
                    help="keep: glibc mallopt(M_MMAP_MAX=0, M_TRIM_THRESHOLD=2 GiB) so freed "
                         "tensors stay mapped and are reused, instead of fresh mmap'd pages (page "
                         "faults and kernel zeroing) for every large tensor of every batch. "
                         "Default: keep for --style fast, default (glibc's own) for the others")
    fast = ap.add_argument_group("fast style")
    fast.add_argument("--jit", choices=("on", "off"), default="on",
                      help="TorchScript the LIF forward/backward loops")
    fast.add_argument("--channels-last", choices=("on", "off"), default="on",
                      help="channels_last memory format for conv layers")
    args = ap.parse_args(argv)
    if args.malloc is None:
        args.malloc = "keep" if args.style == "fast" else "default"
    if args.reuse_static and args.style != "layerwise":
        ap.error("--reuse-static belongs to --style layerwise (fast always reuses the static "
                 "current, snntorch never does)")
    return args


def set_thread_env(args):
    """Must run before torch is imported: libgomp and OpenBLAS read these at load time."""
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[k] = str(args.threads)
    if args.omp_wait_policy == "default":
        os.environ.pop("OMP_WAIT_POLICY", None)
    elif args.omp_wait_policy:
        os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy.upper()
    else:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


if __name__ == "__main__":
    ARGS = parse_args()
    set_thread_env(ARGS)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import Tensor  # noqa: E402
from typing import Optional, Tuple  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
import spikemesh_ref as ref  # noqa: E402


# ============================================================================ model set-up
def build_model(config, time_steps=None, batch=None, hidden=None):
    """ref.Model for a config path (or a parsed dict), with the benchmark overrides applied."""
    cfg = ref.load_config(config) if isinstance(config, str) else config
    cfg = json.loads(json.dumps(cfg))  # private deep copy
    if time_steps is not None:
        cfg["model"]["time_steps"] = int(time_steps)
    if batch is not None:
        cfg.setdefault("train", {})["batch"] = int(batch)
    if hidden is not None:
        hid = [d for d in cfg["model"]["layers"][:-1] if d["type"] == "dense"]
        if not hid:
            raise SystemExit("--hidden: the config has no dense hidden layer")
        hid[0]["out"] = int(hidden)
    return ref.Model(cfg)


def init_params(model, seed, dtype):
    """The reference init (U(+-1/sqrt(fan_in))) with init_gain applied to the weights only, as
    the C engine does (docs/config.md). Returns [(w, b)] as leaf Parameters."""
    m = model.cfg["model"]
    gen = torch.Generator().manual_seed(seed)
    out = []
    for d, (w, b) in zip(m["layers"], model.init_params(gen, dtype=torch.float64)):
        gain = float(d.get("init_gain", m.get("init_gain", 1.0)))
        out.append((torch.nn.Parameter((w * gain).to(dtype)), torch.nn.Parameter(b.to(dtype))))
    return out


# ============================================================================ style: layerwise
def forward_layerwise(model, params, x, reuse_static=False):
    """The reference Model.forward. Returns (output spikes [T,B,K], output membrane [T,B,K])."""
    spikes, mems = model.forward(params, x, reuse_static=reuse_static)
    return spikes[-1], mems[-1]


# ============================================================================ style: snntorch
def lif_step(L, u, cur):
    """One step of LayerSpec.lif: the same expressions, so the same rounding."""
    th, beta = L.threshold, L.beta
    r = (u > th).to(u.dtype).detach()
    if L.reset == "subtract":
        u = beta * u + cur - r * th
    else:
        u = (beta * u + cur) * (1.0 - r)
    return L.spike(u - th), u


def forward_snntorch(model, params, x):
    """Outer loop over time, inner loop over layers, as in the snnTorch tutorials."""
    inp, static = model.encode(x)
    B = inp.shape[0] if static else inp.shape[1]
    mem = [torch.zeros((B,) + L.out_shape, dtype=inp.dtype)
           for L in model.layers]   # snnTorch's init_leaky(): zero membranes
    spk_rec, mem_rec = [], []
    for t in range(model.T):
        h = inp if static else inp[t]
        for i, (L, (w, b)) in enumerate(zip(model.layers, params)):
            h, mem[i] = lif_step(L, mem[i], L.op(h, w, b))
        spk_rec.append(h)
        mem_rec.append(mem[-1])
    return torch.stack(spk_rec), torch.stack(mem_rec)


# ============================================================================ style: fast
def _slice_alloc(cur: Tensor, T: int, static: bool) -> Tensor:
    """An empty [T, *slice] buffer whose slices have cur's memory layout (channels_last stays
    channels_last)."""
    if not static:
        return torch.empty_like(cur)
    if cur.is_contiguous():
        return cur.new_empty([T] + list(cur.shape))
    return torch.empty_strided([T] + list(cur.shape), [cur.numel()] + list(cur.stride()),
                               dtype=cur.dtype, device=cur.device)


def lif_forward_loop(cur: Tensor, T: int, static: bool, beta: float, th: float,
                     zero_reset: bool) -> Tuple[Tensor, Tensor]:
    """U[t], S[t] for t < T; cur is [T, ...] or (static) [...] used at every step.
    r[t] = H(U[t-1] - th) is exactly S[t-1], so the loop needs one compare per step."""
    U = _slice_alloc(cur, T, static)
    S = torch.empty_like(U)
    for t in range(T):
        u = U[t]
        i_t = cur if static else cur[t]
        if t == 0:
            u.copy_(i_t)                                 # U[-1] = 0, r[0] = 0
        else:
            torch.add(i_t, U[t - 1], alpha=beta, out=u)  # b*U[t-1] + I[t]
            if zero_reset:
                u.mul_(1.0 - S[t - 1])
            else:
                u.sub_(S[t - 1], alpha=th)               # - r[t]*th
        torch.gt(u, th, out=S[t])
    return U, S


def lif_backward_loop(dS: Optional[Tensor], dU: Optional[Tensor], U: Tensor, static: bool,
                      beta: float, th: float, zero_reset: bool, atan: bool, alpha: float,
                      slope: float) -> Tensor:
    """BPTT through one LIF layer: dL/dI ([T, ...], or [...] summed over t for a static
    current) from dL/dS, dL/dU (either may be None) and the saved membrane U.
    Passes over all of [T, ...] are memory-bound, so the surrogate is computed in three passes
    into one buffer G, without temporaries: the plain expression dS * (a/2) / (1 + (c*v)**2)
    made the MLP's hidden-layer backward ~7x slower (22 ms vs 3 ms per batch)."""
    if dS is not None:
        G = U - th                                             # v = U - th
        if atan:   # (a/2) / (1 + (pi*a*v/2)^2) = 1 / (k0 + k1*v^2)
            k0 = 2.0 / alpha
            k1 = k0 * (math.pi * alpha / 2.0) ** 2
            torch.addcmul(torch.full([], k0, dtype=U.dtype), G, G, value=k1, out=G)
        else:      # fast_sigmoid: 1 / (1 + k*|v|)^2
            G.abs_().mul_(slope).add_(1.0)
            G.mul_(G)
        torch.div(dS, G, out=G)                                # dS * surrogate'(v)
        if dU is not None:
            G.add_(dU)
    elif dU is not None:
        G = dU.clone()
    else:
        G = torch.zeros_like(U)
    T = G.shape[0]
    if not zero_reset:
        if static:
            # dI = sum_t g[t], g[t] = sum_{s>=t} beta^(s-t) G[s]  =>  dI = sum_s c[s] G[s] with
            # c[s] = 1 + beta + ... + beta^s: no recurrence pass and no separate sum pass.
            dI = G[0].clone()
            c = 1.0
            for s in range(1, T):
                c = 1.0 + beta * c
                dI.add_(G[s], alpha=c)
            return dI
        for t in range(T - 2, -1, -1):
            G[t].add_(G[t + 1], alpha=beta)                    # dU[t+1]/dU[t] = beta
        return G                                               # dU[t]/dI[t] = 1
    keep = (U <= th).to(U.dtype)                               # 1 - r[t+1]
    for t in range(T - 2, -1, -1):
        G[t].addcmul_(G[t + 1], keep[t], value=beta)           # dU[t+1]/dU[t] = beta*(1 - r[t+1])
    G[1:].mul_(keep[:-1])                                      # dU[t]/dI[t] = 1 - r[t]
    return G.sum(0) if static else G


_LOOPS = {False: (lif_forward_loop, lif_backward_loop)}


def _loops(jit):
    if jit not in _LOOPS:
        _LOOPS[jit] = (torch.jit.script(lif_forward_loop), torch.jit.script(lif_backward_loop))
    return _LOOPS[jit]


class LIF(torch.autograd.Function):
    """The whole T-step LIF layer as one autograd node: cur [T, B, ...] (or [B, ...] static)
    -> (S, U), both [T, B, ...]. Saves only U; backward = hand-written BPTT."""

    @staticmethod
    def forward(ctx, cur, L, T, static, jit):
        if L.surrogate not in ("atan", "fast_sigmoid"):
            raise ValueError("surrogate %r" % L.surrogate)
        fwd, _ = _loops(jit)
        U, S = fwd(cur, T, static, L.beta, L.threshold, L.reset == "zero")
        ctx.save_for_backward(U)
        ctx.L, ctx.static, ctx.jit = L, static, jit
        ctx.set_materialize_grads(False)
        return S, U

    @staticmethod
    def backward(ctx, dS, dU):
        (U,) = ctx.saved_tensors
        L = ctx.L
        _, bwd = _loops(ctx.jit)
        dI = bwd(dS, dU, U, ctx.static, L.beta, L.threshold, L.reset == "zero",
                 L.surrogate == "atan", L.surrogate_alpha, L.surrogate_slope)
        return dI, None, None, None, None


def forward_fast(model, params, x, jit=True, channels_last=False):
    """Layer by layer over all T; static first-layer current once; one LIF node per layer."""
    inp, static = model.encode(x)
    T = model.T
    for L, (w, b) in zip(model.layers, params):
        flat = inp if static else inp.reshape(T * inp.shape[1], *inp.shape[2:])
        if L.kind == "dense" and flat.dim() == 4 and not flat.is_contiguous() and \
                flat.is_contiguous(memory_format=torch.channels_last):
            # channels_last input: flatten it in its memory order (h, w, c), a view, and permute
            # the small weight to match, instead of copying the activations to (c, h, w) order
            n, C, H, W = flat.shape
            wp = w.reshape(L.out, C, H, W).permute(0, 2, 3, 1).reshape(L.out, -1)
            c = F.linear(flat.permute(0, 2, 3, 1).reshape(n, -1), wp, b)
        else:
            c = L.op(flat, w, b)
        if channels_last and L.kind == "conv2d":
            # a 1-channel input gives an NCHW output; make the LIF state (and so the next
            # conv's input) channels_last. A no-op for the other conv layers.
            c = c.contiguous(memory_format=torch.channels_last)
        cur = c if static else c.reshape(T, inp.shape[1], *c.shape[1:])  # [B,..] or [T,B,..]
        inp, U = LIF.apply(cur, L, T, static, jit)
        static = False
    return inp, U


# ============================================================================ driver
def make_forward(style, reuse_static=False, jit=True, channels_last=False):
    """forward(model, params, x) -> (output spikes [T,B,K], output membrane [T,B,K])."""
    if style == "layerwise":
        return lambda m, p, x: forward_layerwise(m, p, x, reuse_static)
    if style == "snntorch":
        return forward_snntorch
    if style == "fast":
        return lambda m, p, x: forward_fast(m, p, x, jit, channels_last)
    raise ValueError(style)


def read_idx(path, limit=0):
    """The first `limit` samples (all when 0) of an IDX file, reading no more of it than that,
    as spikemesh's reader does (so that peak memory compares like with like)."""
    with gzip.open(path, "rb") as f:
        head = f.read(4)
        ndim = head[3]
        dims = [int.from_bytes(f.read(4), "big") for _ in range(ndim)]
        if limit and limit < dims[0]:
            dims[0] = limit
        data = f.read(math.prod(dims))
    return np.frombuffer(data, dtype=np.uint8).reshape(dims).copy()


def malloc_keep():
    """glibc: serve every allocation from the heap and never give freed memory back, so the
    same-sized tensors of the next batch reuse pages that are already mapped (see --malloc)."""
    import ctypes
    libc = ctypes.CDLL("libc.so.6")
    M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
    if not (libc.mallopt(M_MMAP_MAX, 0) and libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1)):
        sys.exit("mallopt failed")


def main(args):
    if args.malloc == "keep":
        malloc_keep()
    torch.set_num_threads(args.threads)
    torch.backends.mkldnn.enabled = args.mkldnn == "on"
    dtype = getattr(torch, args.dtype)
    model = build_model(args.config, args.time_steps, args.batch, args.hidden)
    cfg = model.cfg
    seed = int(cfg.get("seed", 0))
    torch.manual_seed(seed)
    lr = float((cfg.get("train", {}) or {}).get("lr", 1e-3))
    B, T = model.batch, model.T

    images = read_idx(os.path.join(args.data, "train-images-idx3-ubyte.gz"), args.train_limit)
    labels = read_idx(os.path.join(args.data, "train-labels-idx1-ubyte.gz"), args.train_limit).astype(np.int64)
    if images[0].size != math.prod(model.input_shape):
        sys.exit("config input %r does not fit %r images" % (model.input_shape, images.shape[1:]))
    X = torch.from_numpy(images.reshape(len(images), *model.input_shape))  # uint8; scaled per batch
    Y = torch.from_numpy(labels)

    channels_last = args.style == "fast" and args.channels_last == "on"
    params = init_params(model, seed, dtype)
    if channels_last:
        for w, _ in params:
            if w.dim() == 4:
                w.data = w.data.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam([p for wb in params for p in wb], lr=lr, betas=(0.9, 0.999), eps=1e-8)
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(X), generator=gen)
    forward = make_forward(args.style, args.reuse_static, args.jit == "on", channels_last)

    def step(i):
        idx = perm[(i * B) % (len(X) - B + 1):][:B]
        x, y = X[idx].to(dtype) / 255.0, Y[idx]
        spikes, mem = forward(model, params, x)
        loss = model.loss([spikes], [mem], y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss)

    setup_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    for i in range(args.warmup):
        step(i)
    ru0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for i in range(args.batches):
        last = step(args.warmup + i)
    dt = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    peak_rss = ru1.ru_maxrss / 1024.0
    cpu = ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime
    out = {"samples_per_s": args.batches * B / dt, "seconds": dt, "style": args.style,
           "samples_per_cpu_s": args.batches * B / cpu,  # less sensitive to a busy machine
           "batches": args.batches, "warmup": args.warmup, "batch": B, "T": T,
           "threads": args.threads, "dtype": args.dtype, "torch": torch.__version__,
           "encoder": model.encoder, "reuse_static": args.reuse_static or args.style == "fast",
           "param_count": sum(p.numel() for wb in params for p in wb),
           "layers": [L.out for L in model.layers],
           "peak_rss_mb": round(peak_rss, 1), "setup_rss_mb": round(setup_rss, 1),
           "cpu_s": round(cpu, 3),
           "sys_s": round(ru1.ru_stime - ru0.ru_stime, 3),
           "page_faults_per_batch": (ru1.ru_minflt - ru0.ru_minflt) // max(args.batches, 1),
           "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset"),
           "mkldnn": args.mkldnn, "malloc": args.malloc, "last_loss": last}
    if args.style == "fast":
        out.update(jit=args.jit, channels_last=args.channels_last)
    print(json.dumps(out))


if __name__ == "__main__":
    main(ARGS)
