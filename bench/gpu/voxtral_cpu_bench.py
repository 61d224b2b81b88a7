#!/usr/bin/env python3
"""CPU cost of the in-process engine's streaming step (Voxtral Mini 4B Realtime on onnxruntime).

What voxline's local engine runs for each 80 ms of a call's speech: 8 mel frames through the causal
conv stem, 4 new positions through the 32 encoder layers (KV cache: 749 cached positions, the
750-frame window in steady state), the projector (4 positions -> 1 token), one token through the 26
decoder layers (KV cache: the context so far) and the lm_head (3072 -> 131072). Real time means one
step in under 80 ms: RTF = step time / 80 ms.

Method (as docs/benchmarks.md "In-process engine on CPU" reports it): the real architecture's
dimensions (transformers' VoxtralRealtimeConfig defaults, which match the published config; the
script checks its layers' parameter counts against transformers' own layer classes), random weights
(compute cost does not depend on their values; accuracy does, and nothing here measures it). Rather
than the whole 4.4 B model, it exports

  - a block of ENC_BLOCK distinct encoder layers (run 32 / ENC_BLOCK times a step),
  - a block of DEC_BLOCK distinct decoder layers (run 26 / DEC_BLOCK times a step),
  - the audio head (conv stem, final norm, projector) and the text head (final norm, lm_head),

each as its own ONNX graph and onnxruntime session (as the real export has separate graphs), with
the KV caches fed as inputs and returned as outputs (past -> present, concatenated, as the export
does), every layer run with its own cache arrays. It quantizes the MatMuls with onnxruntime's
MatMulNBits quantizer (4 bits, block 32, symmetric: the transformers.js quantizer's q4 settings),
makes an "acc4" copy with accuracy_level=4 on every MatMulNBits node (what LOCAL_MATMUL_ACCURACY=4
does), and times whole steps. Extrapolated, not measured: that 32 / 26 distinct layers cost what
the repeated block costs (a block's q4 weights are ~150 MB; where the last-level cache holds part
of them between repeated runs, the real model, ~2.4 GB of distinct weights a step, is slower);
not included: mel extraction, the tokenizer, the embedding lookup, transformers.js' JavaScript
between runs.

    python3 bench/gpu/voxtral_cpu_bench.py --out DIR [--tiny] [--threads 2,4,8,16] ...

--tiny runs the same code at toy sizes (a dry run). Results: DIR/cpu_bench.json (every cell as it
is measured) and a table on stdout.
"""

import argparse
import json
import math
import multiprocessing as mp
import os
import platform
import statistics
import sys
import time

import numpy as np

STEP_MS = 80.0
T0 = time.monotonic()


def log(*args):
    print(f"[{time.monotonic() - T0:7.1f}s]", *args, flush=True)


def dims(tiny):
    if tiny:
        return dict(
            mel=128, enc_d=64, enc_h=4, enc_hd=16, enc_i=128, enc_layers=32, enc_window=32,
            dec_d=96, dec_h=4, dec_kv=2, dec_hd=24, dec_i=192, dec_layers=26, vocab=1000,
        )
    return dict(
        mel=128, enc_d=1280, enc_h=32, enc_hd=64, enc_i=5120, enc_layers=32, enc_window=750,
        dec_d=3072, dec_h=32, dec_kv=8, dec_hd=128, dec_i=9216, dec_layers=26, vocab=131072,
    )


# ---------------------------------------------------------------------------------------------
# The layers (torch), exported one block at a time.


def build_modules(D, enc_block, dec_block, seed=0, materialize=True):
    import torch
    from torch import nn

    torch.manual_seed(seed)

    class RMSNorm(nn.Module):
        def __init__(self, d, eps=1e-5):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(d))
            self.eps = eps

        def forward(self, x):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight

    def rotate_half(x):
        h = x.shape[-1] // 2
        return torch.cat((-x[..., h:], x[..., :h]), dim=-1)

    class Attention(nn.Module):
        """Mistral attention (GQA, RoPE) with the KV cache as tensors: past in, present out."""

        def __init__(self, d, heads, kv_heads, head_dim, biases):
            super().__init__()
            self.h, self.kv, self.hd = heads, kv_heads, head_dim
            self.q_proj = nn.Linear(d, heads * head_dim, bias=biases)
            self.k_proj = nn.Linear(d, kv_heads * head_dim, bias=False)
            self.v_proj = nn.Linear(d, kv_heads * head_dim, bias=biases)
            self.o_proj = nn.Linear(heads * head_dim, d, bias=biases)

        def forward(self, x, cos, sin, past_k, past_v, mask):
            t = x.shape[1]
            q = self.q_proj(x).view(1, t, self.h, self.hd).transpose(1, 2)
            k = self.k_proj(x).view(1, t, self.kv, self.hd).transpose(1, 2)
            v = self.v_proj(x).view(1, t, self.kv, self.hd).transpose(1, 2)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            k_all = torch.cat([past_k, k], dim=2)
            v_all = torch.cat([past_v, v], dim=2)
            rep = self.h // self.kv
            s = k_all.shape[2]
            kk = k_all if rep == 1 else k_all[:, :, None].expand(1, self.kv, rep, s, self.hd).reshape(1, self.h, s, self.hd)
            vv = v_all if rep == 1 else v_all[:, :, None].expand(1, self.kv, rep, s, self.hd).reshape(1, self.h, s, self.hd)
            att = torch.matmul(q, kk.transpose(2, 3)) * (1.0 / math.sqrt(self.hd))
            if mask is not None:
                att = att + mask
            att = torch.softmax(att, dim=-1)
            out = torch.matmul(att, vv).transpose(1, 2).reshape(1, t, self.h * self.hd)
            return self.o_proj(out), k_all, v_all

    class MLP(nn.Module):
        def __init__(self, d, inner, down_bias):
            super().__init__()
            self.gate_proj = nn.Linear(d, inner, bias=False)
            self.up_proj = nn.Linear(d, inner, bias=False)
            self.down_proj = nn.Linear(inner, d, bias=down_bias)

        def forward(self, x):
            return self.down_proj(nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))

    class EncoderLayer(nn.Module):  # VoxtralRealtimeEncoderLayer
        def __init__(self):
            super().__init__()
            self.self_attn = Attention(D["enc_d"], D["enc_h"], D["enc_h"], D["enc_hd"], biases=True)
            self.self_attn_layer_norm = RMSNorm(D["enc_d"])
            self.final_layer_norm = RMSNorm(D["enc_d"])
            self.mlp = MLP(D["enc_d"], D["enc_i"], down_bias=True)

        def forward(self, x, cos, sin, pk, pv, mask):
            a, k, v = self.self_attn(self.self_attn_layer_norm(x), cos, sin, pk, pv, mask)
            x = x + a
            return x + self.mlp(self.final_layer_norm(x)), k, v

    class AdaRmsNorm(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.linear1 = nn.Linear(d, 32, bias=False)
            self.linear2 = nn.Linear(32, d, bias=False)

        def forward(self, t):
            return self.linear2(nn.functional.gelu(self.linear1(t)))

    class DecoderLayer(nn.Module):  # VoxtralRealtimeTextDecoderLayer
        def __init__(self):
            super().__init__()
            self.self_attn = Attention(D["dec_d"], D["dec_h"], D["dec_kv"], D["dec_hd"], biases=False)
            self.input_layernorm = RMSNorm(D["dec_d"])
            self.post_attention_layernorm = RMSNorm(D["dec_d"])
            self.ada_rms_norm = AdaRmsNorm(D["dec_d"])
            self.mlp = MLP(D["dec_d"], D["dec_i"], down_bias=False)

        def forward(self, x, cos, sin, t_cond, pk, pv, mask=None):  # one token a step: no mask
            a, k, v = self.self_attn(self.input_layernorm(x), cos, sin, pk, pv, mask)
            x = x + a
            h = self.post_attention_layernorm(x) * (1 + self.ada_rms_norm(t_cond))
            return x + self.mlp(h), k, v

    class EncoderBlock(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.layers = nn.ModuleList([EncoderLayer() for _ in range(n)])

        def forward(self, x, cos, sin, mask, *past):
            present = []
            for i, layer in enumerate(self.layers):
                x, k, v = layer(x, cos, sin, past[2 * i], past[2 * i + 1], mask)
                present += [k, v]
            return (x, *present)

    class DecoderBlock(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.layers = nn.ModuleList([DecoderLayer() for _ in range(n)])

        def forward(self, x, cos, sin, t_cond, *past):
            present = []
            for i, layer in enumerate(self.layers):
                x, k, v = layer(x, cos, sin, t_cond, past[2 * i], past[2 * i + 1])
                present += [k, v]
            return (x, *present)

    class AudioHead(nn.Module):
        """Causal conv stem (8 mel frames -> 4 positions, with its padding cache) and, after the
        encoder layers, the final norm and the projector (4 positions x 1280 -> 1 token x 3072)."""

        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv1d(D["mel"], D["enc_d"], 3)
            self.conv2 = nn.Conv1d(D["enc_d"], D["enc_d"], 3, stride=2)
            self.norm = RMSNorm(D["enc_d"])
            self.linear_1 = nn.Linear(4 * D["enc_d"], D["dec_d"], bias=False)
            self.linear_2 = nn.Linear(D["dec_d"], D["dec_d"], bias=False)

        def forward(self, mel, pad1, pad2, enc_out):
            h = nn.functional.gelu(self.conv1(torch.cat([pad1, mel], dim=2)))
            stem = nn.functional.gelu(self.conv2(torch.cat([pad2, h], dim=2))).permute(0, 2, 1)
            a = self.norm(enc_out).reshape(1, -1, 4 * D["enc_d"])
            return stem, self.linear_2(nn.functional.gelu(self.linear_1(a)))

    class TextHead(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = RMSNorm(D["dec_d"])
            self.lm_head = nn.Linear(D["dec_d"], D["vocab"], bias=False)

        def forward(self, x):
            return self.lm_head(self.norm(x))

    with torch.no_grad():
        # Built on the meta device and then given memory: no default initialisation to pay for.
        with torch.device("meta"):
            mods = {
                "enc_block": EncoderBlock(enc_block),
                "dec_block": DecoderBlock(dec_block),
                "audio_head": AudioHead(),
                "text_head": TextHead(),
            }
        for name in list(mods) if materialize else []:
            m = mods[name] = mods[name].to_empty(device="cpu").eval()
            for pname, p in m.named_parameters():
                if p.dim() > 1:  # small random weights: activations stay in range through the layers
                    p.normal_(0.0, 0.02)
                elif pname.endswith(".bias"):
                    p.zero_()
                else:  # the norms' weights
                    p.fill_(1.0)
    return mods, EncoderLayer, DecoderLayer


def check_against_transformers():
    """These layers (at the real config) against transformers' own classes: parameter names and
    shapes, and the same output for the same weights and input (4 positions, causal, no cache)."""
    try:
        import torch
        from transformers import VoxtralRealtimeConfig
        from transformers.models.voxtral_realtime import modeling_voxtral_realtime as m
    except Exception as e:  # noqa: BLE001
        return {"checked": False, "why": repr(e)}
    D = dims(False)
    _, EncoderLayer, DecoderLayer = build_modules(D, 1, 1, materialize=False)
    cfg = VoxtralRealtimeConfig()
    out = {"checked": True, "config": {
        "audio": {k: getattr(cfg.audio_config, k, None) for k in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "head_dim", "sliding_window")},
        "text": {k: getattr(cfg.text_config, k, None) for k in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim", "vocab_size", "sliding_window")},
    }}
    for sub in (cfg.audio_config, cfg.text_config):
        sub._attn_implementation = "eager"
    pairs = (
        ("encoder_layer", EncoderLayer, lambda: m.VoxtralRealtimeEncoderLayer(cfg.audio_config, 0), cfg.audio_config, D["enc_d"]),
        ("decoder_layer", DecoderLayer, lambda: m.VoxtralRealtimeTextDecoderLayer(cfg.text_config, 0), cfg.text_config, D["dec_d"]),
    )
    for name, Mine, Theirs, sub, d in pairs:
        row = {}
        try:
            torch.manual_seed(1)
            theirs = Theirs().eval()
            mine = Mine().eval()
            sa = {k: tuple(v.shape) for k, v in mine.state_dict().items()}
            sb = {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
            row.update(params_mine=sum(math.prod(x) for x in sa.values()),
                       params_transformers=sum(math.prod(x) for x in sb.values()),
                       same_names_and_shapes=sa == sb,
                       differences=[str(x) for x in sorted(set(sa.items()) ^ set(sb.items()))[:10]])
            if sa == sb:
                with torch.no_grad():
                    for p in theirs.parameters():
                        p.normal_(0.0, 0.02)
                    mine.load_state_dict(theirs.state_dict())
                    x = torch.randn(1, 4, d)
                    pos = torch.arange(4)[None]
                    cos, sin = m.VoxtralRealtimeRotaryEmbedding(config=sub)(x, position_ids=pos)
                    causal = torch.triu(torch.full((4, 4), float("-inf")), 1)
                    kw = dict(attention_mask=causal[None, None], position_ids=pos, position_embeddings=(cos, sin))
                    hd = mine.self_attn.hd
                    empty = torch.zeros(1, mine.self_attn.kv, 0, hd)
                    if name == "decoder_layer":
                        t_cond = torch.randn(1, 1, d)
                        want = theirs(x, t_cond=t_cond, **kw)
                        got, _, _ = mine(x, cos[0], sin[0], t_cond, empty, empty, causal)
                    else:
                        want = theirs(x, **kw)
                        got, _, _ = mine(x, cos[0], sin[0], empty, empty, causal)
                    want = want[0] if isinstance(want, tuple) else want
                    row["max_abs_diff"] = float((got - want).abs().max())
                    row["same_output"] = bool(torch.allclose(got, want, atol=1e-4, rtol=1e-3))
        except Exception as e:  # noqa: BLE001
            row["error"] = repr(e)
        out[name] = row
    return out


def export_all(mods, D, enc_block, dec_block, work):
    import torch

    enc_past = D["enc_window"] - 1
    paths = {}
    with torch.no_grad():
        specs = {
            "enc_block": (
                (torch.zeros(1, 4, D["enc_d"]), torch.zeros(4, D["enc_hd"]), torch.zeros(4, D["enc_hd"]),
                 torch.zeros(4, enc_past + 4),
                 *[torch.zeros(1, D["enc_h"], enc_past, D["enc_hd"]) for _ in range(2 * enc_block)]),
                ["x", "cos", "sin", "mask"] + [f"past.{i}.{kv}" for i in range(enc_block) for kv in ("key", "value")],
                ["y"] + [f"present.{i}.{kv}" for i in range(enc_block) for kv in ("key", "value")],
                {**{f"past.{i}.{kv}": {2: "past"} for i in range(enc_block) for kv in ("key", "value")},
                 "mask": {1: "total"}},
            ),
            "dec_block": (
                (torch.zeros(1, 1, D["dec_d"]), torch.zeros(1, D["dec_hd"]), torch.zeros(1, D["dec_hd"]),
                 torch.zeros(1, 1, D["dec_d"]),
                 *[torch.zeros(1, D["dec_kv"], 40, D["dec_hd"]) for _ in range(2 * dec_block)]),
                ["x", "cos", "sin", "t_cond"] + [f"past.{i}.{kv}" for i in range(dec_block) for kv in ("key", "value")],
                ["y"] + [f"present.{i}.{kv}" for i in range(dec_block) for kv in ("key", "value")],
                {f"past.{i}.{kv}": {2: "past"} for i in range(dec_block) for kv in ("key", "value")},
            ),
            "audio_head": (
                (torch.zeros(1, D["mel"], 8), torch.zeros(1, D["mel"], 2), torch.zeros(1, D["enc_d"], 1),
                 torch.zeros(1, 4, D["enc_d"])),
                ["mel", "pad1", "pad2", "enc_out"], ["stem", "audio_embeds"], None,
            ),
            "text_head": ((torch.zeros(1, 1, D["dec_d"]),), ["x"], ["logits"], None),
        }
        for name, (args, ins, outs, dyn) in specs.items():
            path = os.path.join(work, f"{name}.onnx")
            t = time.monotonic()
            kwargs = dict(input_names=ins, output_names=outs, opset_version=17, do_constant_folding=True)
            if dyn:
                kwargs["dynamic_axes"] = dyn
            try:  # the TorchScript exporter: a plain graph of the layers' ops
                torch.onnx.export(mods[name], args, path, dynamo=False, **kwargs)
            except Exception as e:  # noqa: BLE001
                log(f"TorchScript export of {name} failed ({e!r}); trying dynamo=True")
                kwargs["opset_version"] = 18
                torch.onnx.export(mods[name], args, path, dynamo=True, **kwargs)
            paths[name] = path
            log(f"exported {name} ({os.path.getsize(path) / 1e6:.0f} MB) in {time.monotonic() - t:.1f}s")
    return paths


def quantize_all(paths, work):
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    out = {"fp32": dict(paths), "q4": {}, "q4acc4": {}}
    counts = {}
    for name, path in paths.items():
        t = time.monotonic()
        q = MatMulNBitsQuantizer(onnx.load(path), block_size=32, is_symmetric=True)
        q.process()
        model = q.model.model
        q4 = os.path.join(work, f"{name}_q4.onnx")
        onnx.save(model, q4)
        n = 0
        for node in model.graph.node:
            if node.op_type == "MatMulNBits":
                n += 1
                for a in list(node.attribute):
                    if a.name == "accuracy_level":
                        node.attribute.remove(a)
                node.attribute.append(onnx.helper.make_attribute("accuracy_level", 4))
        acc4 = os.path.join(work, f"{name}_q4acc4.onnx")
        onnx.save(model, acc4)
        counts[name] = n
        out["q4"][name], out["q4acc4"][name] = q4, acc4
        log(f"quantized {name}: {n} MatMulNBits, {os.path.getsize(q4) / 1e6:.0f} MB, {time.monotonic() - t:.1f}s")
    return out, counts


# ---------------------------------------------------------------------------------------------
# Timing: one process is one voxline model instance (its sessions, its thread count).


_NOISE = np.random.default_rng(7).standard_normal(1 << 20).astype(np.float32) * 0.1


def noise(*shape):
    """Random-looking values (never zeros), fast at any size: a fixed random vector, tiled."""
    n = math.prod(shape)
    reps = -(-n // _NOISE.size)
    start = int(np.random.default_rng(n).integers(0, _NOISE.size))
    return np.roll(np.tile(_NOISE, reps)[:n] if reps > 1 else _NOISE[:n], start).reshape(shape).copy()


def rope(positions, head_dim):
    inv = 1.0 / (1e6 ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))
    f = np.outer(positions, inv)
    emb = np.concatenate([f, f], axis=-1)
    return np.cos(emb).astype(np.float32), np.sin(emb).astype(np.float32)


class Instance:
    def __init__(self, files, D, enc_block, dec_block, threads, spin=True):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        if not spin:
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        t = time.monotonic()
        self.s = {n: ort.InferenceSession(p, so, providers=["CPUExecutionProvider"]) for n, p in files.items()}
        self.load_s = time.monotonic() - t
        self.D, self.enc_block, self.dec_block = D, enc_block, dec_block
        self.enc_runs = D["enc_layers"] // enc_block
        self.dec_runs = D["dec_layers"] // dec_block
        enc_past = D["enc_window"] - 1
        cos, sin = rope(np.arange(enc_past, enc_past + 4), D["enc_hd"])
        mask = np.zeros((4, enc_past + 4), np.float32)
        mask[:, enc_past:] = np.triu(np.full((4, 4), -1e9, np.float32), 1)
        small = noise
        # Every encoder layer its own cache arrays (a run reads a distinct layer's cache, as in the model).
        self.enc_feeds = []
        for r in range(self.enc_runs):
            feed = {"x": small(1, 4, D["enc_d"]), "cos": cos, "sin": sin, "mask": mask}
            for i in range(enc_block):
                for kv in ("key", "value"):
                    feed[f"past.{i}.{kv}"] = small(1, D["enc_h"], enc_past, D["enc_hd"])
            self.enc_feeds.append(feed)
        self.audio_feed = {"mel": small(1, D["mel"], 8), "pad1": small(1, D["mel"], 2),
                           "pad2": small(1, D["enc_d"], 1), "enc_out": small(1, 4, D["enc_d"])}
        self.text_feed = {"x": small(1, 1, D["dec_d"])}
        self.t_cond = small(1, 1, D["dec_d"])
        self.dec_feeds = []
        self.ctx = None

    def set_context(self, ctx):
        D = self.D
        self.dec_feeds = []  # free the previous context's caches first
        cos, sin = rope(np.array([ctx]), D["dec_hd"])
        for r in range(self.dec_runs):
            feed = {"x": noise(1, 1, D["dec_d"]),
                    "cos": cos, "sin": sin, "t_cond": self.t_cond}
            for i in range(self.dec_block):
                for kv in ("key", "value"):
                    feed[f"past.{i}.{kv}"] = noise(1, D["dec_kv"], ctx, D["dec_hd"])
            self.dec_feeds.append(feed)
        self.ctx = ctx

    def step(self):
        """One streaming step; returns (total, encoder, audio head, decoder, text head) in ms."""
        t0 = time.perf_counter()
        for feed in self.enc_feeds:
            self.s["enc_block"].run(None, feed)
        t1 = time.perf_counter()
        self.s["audio_head"].run(None, self.audio_feed)
        t2 = time.perf_counter()
        for feed in self.dec_feeds:
            self.s["dec_block"].run(None, feed)
        t3 = time.perf_counter()
        self.s["text_head"].run(None, self.text_feed)
        t4 = time.perf_counter()
        return tuple(1000 * x for x in (t4 - t0, t1 - t0, t2 - t1, t3 - t2, t4 - t3))


def time_steps(inst, min_steps, min_seconds, max_seconds=None, warmup=1):
    for _ in range(warmup):
        inst.step()
    rows = []
    start = time.perf_counter()
    while True:
        rows.append(inst.step())
        elapsed = time.perf_counter() - start
        if len(rows) >= min_steps and elapsed >= min_seconds:
            break
        if max_seconds is not None and elapsed >= max_seconds and len(rows) >= 2:
            break
    cols = list(zip(*rows))
    med = [statistics.median(c) for c in cols]
    return {
        "steps": len(rows),
        "step_ms": med[0],
        "step_ms_min": min(cols[0]),
        "step_ms_max": max(cols[0]),
        "encoder_ms": med[1],
        "audio_head_ms": med[2],
        "decoder_ms": med[3],
        "text_head_ms": med[4],
        "rtf": med[0] / STEP_MS,
    }


def _worker(args):
    """One concurrent instance: load, wait for the others, time each context for `seconds`."""
    files, D, enc_block, dec_block, threads, contexts, seconds, spin, barrier, queue, idx = args
    try:
        inst = Instance(files, D, enc_block, dec_block, threads, spin=spin)
        out = {}
        for ctx in contexts:
            inst.set_context(ctx)
            inst.step()  # warm up at this context
            barrier.wait(timeout=600)
            out[ctx] = time_steps(inst, min_steps=2, min_seconds=seconds, warmup=0)
            barrier.wait(timeout=600)
        queue.put((idx, out, None))
    except Exception as e:  # noqa: BLE001
        queue.put((idx, None, repr(e)))
        try:
            barrier.abort()
        except Exception:  # noqa: BLE001
            pass


def concurrent(files, D, enc_block, dec_block, procs, threads, contexts, seconds, spin):
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(procs)
    queue = ctx.Queue()
    ps = [ctx.Process(target=_worker, args=((files, D, enc_block, dec_block, threads, contexts, seconds,
                                             spin, barrier, queue, i),)) for i in range(procs)]
    for p in ps:
        p.start()
    results = [queue.get(timeout=900) for _ in ps]
    for p in ps:
        p.join(timeout=60)
    errors = [r[2] for r in results if r[2]]
    if errors:
        raise RuntimeError(errors[0])
    per = [r[1] for r in sorted(results)]
    out = {}
    for c in contexts:
        steps = [p[c]["step_ms"] for p in per]
        out[c] = {
            "instances": procs,
            "threads": threads,
            "step_ms_each": steps,
            "rtf_each": [s / STEP_MS for s in steps],
            "rtf_worst": max(steps) / STEP_MS,
            # Speech each instance transcribes per second of wall clock, added up: real-time streams.
            "realtime_streams": sum(STEP_MS / s for s in steps),
        }
    return out


# ---------------------------------------------------------------------------------------------


def machine():
    info = {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count()}
    try:
        import onnxruntime
        import torch

        info["onnxruntime"] = onnxruntime.__version__
        info["torch"] = torch.__version__
    except Exception:  # noqa: BLE001
        pass
    try:
        import transformers

        info["transformers"] = transformers.__version__
    except Exception:  # noqa: BLE001
        pass
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        info["cpu_model"] = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), None)
        flags = next((line for line in text.splitlines() if line.startswith("flags")), "")
        info["cpu_flags"] = sorted(f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "amx_bf16", "amx_tile") if f" {f}" in flags)
    except OSError:
        pass
    try:
        caches = {}
        base = "/sys/devices/system/cpu/cpu0/cache"
        for idx in sorted(os.listdir(base)):
            if idx.startswith("index"):
                p = os.path.join(base, idx)
                level = open(os.path.join(p, "level")).read().strip()
                kind = open(os.path.join(p, "type")).read().strip()
                caches[f"L{level}{kind[0]}"] = open(os.path.join(p, "size")).read().strip()
        info["caches"] = caches
    except OSError:
        pass
    try:
        info["mem_total_kb"] = int(next(line.split()[1] for line in open("/proc/meminfo") if line.startswith("MemTotal")))
    except (OSError, StopIteration):
        pass
    return info


def ints(s):
    return [int(x) for x in s.split(",") if x]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", default="/tmp/voxtral-cpu-bench")
    ap.add_argument("--tiny", action="store_true", help="toy sizes: a dry run of every code path")
    ap.add_argument("--enc-block", type=int, default=8)
    ap.add_argument("--dec-block", type=int, default=2)
    ap.add_argument("--threads", default="2,4,8,16")
    ap.add_argument("--contexts", default="40,1000,8000")
    ap.add_argument("--variants", default="q4,q4acc4")
    ap.add_argument("--fp32-threads", default="16,2", help="fp32 (unquantized) at these thread counts, last")
    ap.add_argument("--fp32-contexts", default="40,1000")
    ap.add_argument("--concurrency", default="2x8,4x4,8x2", help="instances x threads, run at once")
    ap.add_argument("--conc-contexts", default="40,1000")
    ap.add_argument("--conc-variants", default="q4acc4,q4")
    ap.add_argument("--conc-seconds", type=float, default=6.0)
    ap.add_argument("--nospin", action="store_true", help="also the concurrency runs with allow_spinning=0")
    ap.add_argument("--single-spin", default="on", help="on, off or on,off: onnxruntime's intra-op spinning, single stream")
    ap.add_argument("--conc-spin", default="on", help="on, off or on,off: the same, several instances")
    ap.add_argument("--min-steps", type=int, default=4)
    ap.add_argument("--min-seconds", type=float, default=2.5)
    ap.add_argument("--budget-s", type=float, default=540, help="skip what would start after this")
    a = ap.parse_args()

    D = dims(a.tiny)
    os.makedirs(a.out, exist_ok=True)
    os.makedirs(a.work, exist_ok=True)
    result_path = os.path.join(a.out, "cpu_bench.json")
    R = {"args": vars(a), "dims": D, "machine": machine(), "single": [], "concurrent": [], "skipped": []}

    def save():
        with open(result_path, "w") as f:
            json.dump(R, f, indent=1)

    def over(what):
        if time.monotonic() - T0 > a.budget_s:
            R["skipped"].append(what)
            log("over budget, skipping", what)
            save()
            return True
        return False

    log("machine", json.dumps(R["machine"]))
    R["layer_check"] = check_against_transformers()
    log("layer check", json.dumps(R["layer_check"]))
    mods, _, _ = build_modules(D, a.enc_block, a.dec_block)
    R["params"] = {n: sum(p.numel() for p in m.parameters()) for n, m in mods.items()}
    paths = export_all(mods, D, a.enc_block, a.dec_block, a.work)
    del mods
    files, counts = quantize_all(paths, a.work)
    R["matmulnbits"] = counts
    R["sizes_mb"] = {v: {n: round(os.path.getsize(p) / 1e6, 1) for n, p in fs.items()} for v, fs in files.items()}
    save()

    def single(plan, spin=True):
        """One instance alone on the machine, at each thread count and context."""
        for variant, threads, contexts in plan:
            if over(f"single {variant} {threads} threads{'' if spin else ' nospin'}"):
                continue
            inst = Instance(files[variant], D, a.enc_block, a.dec_block, threads, spin=spin)
            for c in contexts:
                if over(f"single {variant} {threads} threads ctx {c}"):
                    continue
                inst.set_context(c)
                cell = {"variant": variant, "threads": threads, "ctx": c, "spin": spin, "load_s": round(inst.load_s, 2),
                        **time_steps(inst, a.min_steps, a.min_seconds, max_seconds=4 * a.min_seconds)}
                R["single"].append(cell)
                save()
                log(f"single {variant:7s} {threads:2d} thr {'spin  ' if spin else 'nospin'} ctx {c:5d}: step {cell['step_ms']:8.1f} ms  RTF {cell['rtf']:.2f}"
                    f"  (enc {cell['encoder_ms']:.1f}, dec {cell['decoder_ms']:.1f}, lm_head {cell['text_head_ms']:.1f}, n={cell['steps']})")
            del inst

    def several(variants, spin):
        """Several instances at once, splitting the cores."""
        for variant in variants:
            for spec in a.concurrency.split(","):
                procs, threads = (int(x) for x in spec.split("x"))
                what = f"concurrent {variant} {spec}{'' if spin else ' nospin'}"
                if over(what):
                    continue
                try:
                    res = concurrent(files[variant], D, a.enc_block, a.dec_block, procs, threads,
                                     ints(a.conc_contexts), a.conc_seconds, spin)
                except Exception as e:  # noqa: BLE001
                    R["concurrent"].append({"variant": variant, "spec": spec, "spin": spin, "error": repr(e)})
                    log(what, "failed:", repr(e))
                    save()
                    continue
                for c, row in res.items():
                    R["concurrent"].append({"variant": variant, "spec": spec, "spin": spin, "ctx": c, **row})
                    log(f"{what} ctx {c}: RTF each {[round(x, 2) for x in row['rtf_each']]}, "
                        f"real-time streams {row['realtime_streams']:.2f}")
                save()

    # In order of importance, so that a budget cut drops the least needed.
    modes = lambda text: [m == "on" for m in text.split(",") if m]  # noqa: E731
    for spin in modes(a.single_spin):
        single([(v, t, ints(a.contexts)) for v in a.variants.split(",") for t in ints(a.threads)], spin)
    for spin in modes(a.conc_spin):
        several(a.conc_variants.split(","), spin=spin)
    if a.nospin and False not in modes(a.conc_spin):  # --nospin: also the first variant without
        several(a.conc_variants.split(",")[:1], spin=False)
    for spin in modes(a.single_spin)[:1]:
        single([("fp32", t, ints(a.fp32_contexts)) for t in ints(a.fp32_threads)], spin)
    save()
    print_table(R)


def print_table(R):
    print("\nsingle stream: RTF (step ms / 80)")
    label = lambda c: c["variant"] + ("" if c.get("spin", True) else "/nospin")  # noqa: E731
    cells = {(label(c), c["threads"], c["ctx"]): c for c in R["single"]}
    ctxs = sorted({c["ctx"] for c in R["single"]})
    print("variant         threads | " + " | ".join(f"ctx {c}" for c in ctxs))
    for v in dict.fromkeys(label(c) for c in R["single"]):
        for t in sorted({c["threads"] for c in R["single"] if label(c) == v}):
            row = [f"{cells[(v, t, c)]['rtf']:.2f}" if (v, t, c) in cells else "-" for c in ctxs]
            print(f"{v:15s} {t:7d} | " + " | ".join(row))
    print("\nconcurrent: instances x threads, real-time streams (sum of 1/RTF), worst RTF")
    for r in R["concurrent"]:
        if "error" in r:
            print(r["variant"], r["spec"], "error", r["error"])
        else:
            print(f"{r['variant']:8s} {r['spec']:5s} {'spin' if r['spin'] else 'nospin'} ctx {r['ctx']:5d}: "
                  f"{r['realtime_streams']:.2f} streams, worst RTF {r['rtf_worst']:.2f}")
    if R["skipped"]:
        print("skipped (budget):", R["skipped"])


if __name__ == "__main__":
    main()
