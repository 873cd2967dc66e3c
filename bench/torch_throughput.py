#!/usr/bin/python3
"""PyTorch (CPU, float32) training throughput for the network of a spikemesh config.

Same math as the C engine (tests/ref/spikemesh_ref.py builds the network): surrogate spike as a
custom autograd.Function, BPTT through all T steps, Adam. Data: Fashion-MNIST train set.

  /usr/bin/python3 bench/torch_throughput.py --config cfg.yaml --batches 20 --warmup 2 --threads 1

Prints one line of JSON. Keys of the config that are not needed here are ignored.
--reuse-static: with the direct encoder, compute the first layer's current once per minibatch
instead of once per time step (identical result; by default every step recomputes it, as a
usual per-step snnTorch-style loop does).
"""
import argparse
import gzip
import json
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
import spikemesh_ref as ref  # noqa: E402

FMNIST = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", default=FMNIST)
    ap.add_argument("--reuse-static", action="store_true")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    cfg = ref.load_config(args.config)
    model = ref.Model(cfg)
    seed = int(cfg.get("seed", 0))
    torch.manual_seed(seed)
    tr = cfg.get("train", {}) or {}
    lr = float(tr.get("lr", 1e-3))
    B, T = model.batch, model.T

    images = read_idx(os.path.join(args.data, "train-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(args.data, "train-labels-idx1-ubyte.gz")).astype(np.int64)
    n_in = int(np.prod(model.input_shape))
    if images[0].size != n_in:
        sys.exit("config input %r does not fit %r images" % (model.input_shape, images.shape[1:]))
    X = torch.from_numpy(images.reshape(len(images), *model.input_shape).astype(np.float32) / 255.0)
    Y = torch.from_numpy(labels)

    gen = torch.Generator().manual_seed(seed)
    params = [(torch.nn.Parameter(w), torch.nn.Parameter(b))
              for w, b in model.init_params(gen, dtype=torch.float32)]
    opt = torch.optim.Adam([p for wb in params for p in wb], lr=lr, betas=(0.9, 0.999), eps=1e-8)
    perm = torch.randperm(len(X), generator=gen)

    def step(i):
        idx = perm[(i * B) % (len(X) - B + 1):][:B]
        x, y = X[idx], Y[idx]
        spikes, mems = model.forward(params, x, reuse_static=args.reuse_static)
        loss = model.loss(spikes, mems, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss)

    for i in range(args.warmup):
        step(i)
    t0 = time.perf_counter()
    for i in range(args.batches):
        last = step(args.warmup + i)
    dt = time.perf_counter() - t0
    print(json.dumps({"samples_per_s": args.batches * B / dt, "seconds": dt, "batches": args.batches,
                      "batch": B, "T": T, "threads": args.threads, "torch": torch.__version__,
                      "encoder": model.encoder, "reuse_static": args.reuse_static,
                      "last_loss": last}))


if __name__ == "__main__":
    main()
