#!/usr/bin/env python3
"""GPU cost of Voxtral Mini 4B Realtime's batched streaming step (PyTorch bf16, CUDA graphs).

What a GPU server runs for each 80 ms of every live stream: 8 mel frames through the causal conv
stem (with its padding caches), 4 new positions through the 32 encoder layers (sliding window 750:
749 cached + 4 new keys in steady state), the final norm and the projector (4 positions -> 1 token),
the token embedding plus that audio embedding, one token through the 26 decoder layers (GQA 32/8
heads, KV cache of the context so far), the final norm, the lm_head (3072 -> 131072) and a greedy
argmax that becomes the next step's token. Real time means one step for all streams in < 80 ms.

Method. The model is built at transformers' VoxtralRealtimeConfig defaults (they match the
published config; read from transformers when it is installed, else the same numbers written
here), with random weights (compute cost does not depend on their values; accuracy does, and
nothing here measures it), in plain PyTorch whose modules carry transformers' parameter names.
Before timing, the script checks its layers against transformers' own classes
(VoxtralRealtimeEncoderLayer, VoxtralRealtimeTextDecoderLayer, VoxtralRealtimeEmbedder,
VoxtralRealtimeMultiModalProjector, and the whole VoxtralRealtimeForConditionalGeneration built on
the meta device): same parameter names, shapes and counts, and, on CPU in fp32, the same outputs
as transformers' layers for the same weights when this script's streaming code (ring-buffer
encoder cache with its sliding-window mask, static decoder cache, streamed conv stem) is run step
by step over a sequence transformers processes at once.

Timing: N streams are stepped together as one batch, every stream with its own static,
preallocated bf16 caches (encoder: a 753-slot ring per layer, enough for the 749 cached + 4 new
keys; decoder: C + 1 slots per layer for a context of C tokens, the new token written at slot C),
all streams at the same context; activations contiguous [streams, positions, hidden], as a serving
engine keeps them (transformers' conv stem hands the encoder a permuted view, which turns every
encoder Linear into a per-stream batched GEMM: 92 ms against 38 ms a step at 128 streams, ctx 40,
measured on the H200 with the default attention backend). Attention:
the encoder's exact, with a boolean sliding-window mask over the ring, by torch's
scaled_dot_product_attention (its default backend, or efficient / cuDNN / math forced) or written
out as two batched matmuls with an fp32 softmax; --enc-attn auto (the default) checks each against
an fp32 reference, times the audio part with each at 128 streams and uses the fastest exact one
(all recorded). The decoder's is scaled_dot_product_attention grouped: the 4 query heads of each
KV head as 4 query rows over that KV head's keys (exact GQA, the cache not repeated; no mask, as
the cache holds exactly the context).
The whole step is captured in one CUDA graph (the encoder position advances inside it, so replays
walk the ring), replayed --warmup times, then timed with CUDA events over --replays replays
(default 50); the median is reported (with min / p90 / max), plus the same step run eagerly
(Python launching every kernel) and, separately captured, its audio part (stem + encoder +
projector) and text part (decoder + lm_head + argmax).

Not measured / not included: vLLM itself (no paged attention, no continuous batching, no mixed
contexts in one batch, no scheduler, no prefill of new streams, no detokenisation or sampling
beyond argmax); mel extraction (STFT and mel filters of each 80 ms, 1280 samples, untimed); the
tokenizer; the real weights. Cells that do not fit in GPU memory are reported as such (estimated from the caches'
size before allocating, or caught as torch.cuda.OutOfMemoryError).

Derived (stated as derived in the output): max real-time streams per context, the largest N
measured under 80 ms and, between the last measured N under 80 ms and the first over it, a linear
interpolation of the 80 ms crossing (and the same at 60 ms, 25 % headroom); the memory bound (the
GPU memory free after the weights, less --margin-gib, over each stream's caches plus 1 MiB of
step temporaries); the KV cache per stream.

    python3 bench/gpu/voxtral_gpu_bench.py --out DIR [--tiny] [--streams 1,8,32,64,128,256]
        [--contexts 40,1000,8000] [--extra 320x40,384x40,...] [--replays 50]

--tiny runs the same code at toy sizes (a dry run; on CPU when there is no CUDA, without graphs).
Results: DIR/gpu_bench.json (rewritten after every cell) and a table on stdout.
"""

import argparse
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

STEP_MS = 80.0
T0 = time.monotonic()
MIB = 1 << 20
GIB = 1 << 30


def log(*args):
    print(f"[{time.monotonic() - T0:7.1f}s]", *args, flush=True)


# ---------------------------------------------------------------------------------------------
# Dimensions


REAL = dict(
    mel=128, enc_d=1280, enc_h=32, enc_kv=32, enc_hd=64, enc_i=5120, enc_layers=32, enc_window=750,
    dec_d=3072, dec_h=32, dec_kv=8, dec_hd=128, dec_i=9216, dec_layers=26, vocab=131072,
    down=4, enc_eps=1e-5, dec_eps=1e-5, delay_tokens=6,
)
TINY = dict(
    mel=16, enc_d=64, enc_h=4, enc_kv=4, enc_hd=16, enc_i=128, enc_layers=4, enc_window=16,
    dec_d=96, dec_h=4, dec_kv=2, dec_hd=24, dec_i=192, dec_layers=3, vocab=1000,
    down=4, enc_eps=1e-5, dec_eps=1e-5, delay_tokens=6,
)


def transformers_config():
    """VoxtralRealtimeConfig's defaults as this script's dims, or None without transformers."""
    try:
        from transformers import VoxtralRealtimeConfig
    except Exception as e:  # noqa: BLE001
        return None, repr(e)
    cfg = VoxtralRealtimeConfig()
    a, t = cfg.audio_config, cfg.text_config

    def g(obj, *names):
        for n in names:
            v = getattr(obj, n, None)
            if v is not None:
                return v
        return None

    D = dict(
        mel=g(a, "num_mel_bins"), enc_d=a.hidden_size, enc_h=a.num_attention_heads,
        enc_kv=g(a, "num_key_value_heads") or a.num_attention_heads,
        enc_hd=g(a, "head_dim") or a.hidden_size // a.num_attention_heads,
        enc_i=a.intermediate_size, enc_layers=g(a, "num_hidden_layers", "encoder_layers"),
        enc_window=a.sliding_window,
        dec_d=t.hidden_size, dec_h=t.num_attention_heads, dec_kv=t.num_key_value_heads,
        dec_hd=g(t, "head_dim") or t.hidden_size // t.num_attention_heads,
        dec_i=t.intermediate_size, dec_layers=t.num_hidden_layers, vocab=t.vocab_size,
        down=g(cfg, "downsample_factor") or 4, enc_eps=g(a, "rms_norm_eps") or 1e-5,
        dec_eps=g(t, "rms_norm_eps") or 1e-5, delay_tokens=g(cfg, "default_num_delay_tokens") or 6,
    )
    return (cfg, D), None


def per_stream_bytes(D, ctx, elem=2):
    """Cache bytes one stream holds at context ctx: encoder ring, decoder cache, conv pads."""
    enc = D["enc_layers"] * 2 * D["enc_kv"] * ring_slots(D) * D["enc_hd"] * elem
    dec = D["dec_layers"] * 2 * D["dec_kv"] * (ctx + 1) * D["dec_hd"] * elem
    pads = (D["mel"] * 2 + D["enc_d"]) * elem
    return enc, dec, pads


def ring_slots(D):
    return D["enc_window"] + D["down"] - 1  # 749 cached + 4 new = 753 at the real window


# ---------------------------------------------------------------------------------------------
# The model (plain PyTorch, transformers' parameter names) and its streaming step


def build_classes(D):
    import torch
    from torch import nn

    class RMSNorm(nn.Module):  # MistralRMSNorm: computed in fp32
        def __init__(self, d, eps):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(d))
            self.variance_epsilon = eps

        def forward(self, x):
            dt = x.dtype
            x = x.float()
            x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.variance_epsilon)
            return self.weight * x.to(dt)

    class Attention(nn.Module):
        def __init__(self, d, heads, kv_heads, head_dim, biases):
            super().__init__()
            self.q_proj = nn.Linear(d, heads * head_dim, bias=biases)
            self.k_proj = nn.Linear(d, kv_heads * head_dim, bias=False)
            self.v_proj = nn.Linear(d, kv_heads * head_dim, bias=biases)
            self.o_proj = nn.Linear(heads * head_dim, d, bias=biases)

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
            self.self_attn = Attention(D["enc_d"], D["enc_h"], D["enc_kv"], D["enc_hd"], biases=True)
            self.self_attn_layer_norm = RMSNorm(D["enc_d"], D["enc_eps"])
            self.final_layer_norm = RMSNorm(D["enc_d"], D["enc_eps"])
            self.mlp = MLP(D["enc_d"], D["enc_i"], down_bias=True)

    class AdaRmsNorm(nn.Module):  # VoxtralRealtimeTextAdaRmsNorm
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
            self.input_layernorm = RMSNorm(D["dec_d"], D["dec_eps"])
            self.post_attention_layernorm = RMSNorm(D["dec_d"], D["dec_eps"])
            self.ada_rms_norm = AdaRmsNorm(D["dec_d"])
            self.mlp = MLP(D["dec_d"], D["dec_i"], down_bias=False)

    class Embedder(nn.Module):  # VoxtralRealtimeEmbedder: causal convs, left pads 2 and 1
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv1d(D["mel"], D["enc_d"], 3)
            self.conv2 = nn.Conv1d(D["enc_d"], D["enc_d"], 3, stride=2)

    class Projector(nn.Module):  # VoxtralRealtimeMultiModalProjector
        def __init__(self):
            super().__init__()
            self.linear_1 = nn.Linear(D["enc_d"] * D["down"], D["dec_d"], bias=False)
            self.linear_2 = nn.Linear(D["dec_d"], D["dec_d"], bias=False)

        def forward(self, x):
            return self.linear_2(nn.functional.gelu(self.linear_1(x)))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedder = Embedder()
            self.enc_layers = nn.ModuleList([EncoderLayer() for _ in range(D["enc_layers"])])
            self.enc_norm = RMSNorm(D["enc_d"], D["enc_eps"])
            self.projector = Projector()
            self.embed_tokens = nn.Embedding(D["vocab"], D["dec_d"])  # lm_head tied to it
            self.dec_layers = nn.ModuleList([DecoderLayer() for _ in range(D["dec_layers"])])
            self.dec_norm = RMSNorm(D["dec_d"], D["dec_eps"])

    return dict(EncoderLayer=EncoderLayer, DecoderLayer=DecoderLayer, Embedder=Embedder,
                Projector=Projector, Model=Model)


def rotate_half(x):
    import torch

    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rope(positions, inv_freq, dtype):
    """cos, sin for int positions [T] -> [1, 1, T, head_dim] (Llama rotary, computed in fp32)."""
    import torch

    f = positions.float()[:, None] * inv_freq[None, :]
    emb = torch.cat((f, f), dim=-1)
    return emb.cos().to(dtype)[None, None], emb.sin().to(dtype)[None, None]


def enc_positions(pos, D, ar, slot_ids):
    """For the 4 new positions pos..pos+3 (pos: int64 [1]): their ring slots and the exact mask
    [1, 1, 4, slots] (a query at q sees keys at p with q - window < p <= q that exist)."""
    import torch

    S = ring_slots(D)
    qpos = pos + ar  # [T]
    slots = torch.remainder(qpos, S)
    last = pos + (D["down"] - 1)
    slot_pos = last - torch.remainder(last - slot_ids, S)  # absolute position held by each slot
    sp = slot_pos[None, :]
    q = qpos[:, None]
    mask = (sp >= 0) & (sp <= q) & (sp > q - D["enc_window"])
    return qpos, slots, mask[None, None]


def enc_layer_step(layer, x, cos, sin, kc, vc, slots, mask, D):
    """One encoder layer on T new positions, x [N, T, d]; kc, vc [N, kv, slots, hd] (the ring)."""
    import torch.nn.functional as F

    a = layer.self_attn
    N, T, _ = x.shape
    h = layer.self_attn_layer_norm(x)
    q = a.q_proj(h).view(N, T, D["enc_h"], D["enc_hd"]).transpose(1, 2)
    k = a.k_proj(h).view(N, T, D["enc_kv"], D["enc_hd"]).transpose(1, 2)
    v = a.v_proj(h).view(N, T, D["enc_kv"], D["enc_hd"]).transpose(1, 2)
    q = q * cos + rotate_half(q) * sin
    k = k * cos + rotate_half(k) * sin
    kc.index_copy_(2, slots, k)
    vc.index_copy_(2, slots, v)
    o = enc_attention(q, kc, vc, mask, D)
    x = x + a.o_proj(o.transpose(1, 2).reshape(N, T, D["enc_h"] * D["enc_hd"]))
    return x + layer.mlp(layer.final_layer_norm(x))


ENC_ATTN = {"impl": "sdpa"}  # set by --enc-attn (auto: the fastest exact one, timed at the start)
ENC_ATTN_CHOICES = ("sdpa", "sdpa-efficient", "sdpa-cudnn", "sdpa-math", "matmul")


def enc_attention(q, k, v, mask, D, impl=None):
    """Encoder attention of the new positions over the ring, exact, with the sliding-window mask:
    torch's scaled_dot_product_attention (its own backend choice, or one forced), or written out
    (two batched matmuls, the softmax in fp32)."""
    import torch
    import torch.nn.functional as F

    impl = impl or ENC_ATTN["impl"]
    gqa = D["enc_kv"] != D["enc_h"]
    if impl == "matmul":
        if gqa:
            rep = D["enc_h"] // D["enc_kv"]
            k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
        s = torch.matmul(q, k.transpose(-1, -2)) * (q.shape[-1] ** -0.5)
        s = s.float().masked_fill(~mask, float("-inf"))
        return torch.matmul(torch.softmax(s, dim=-1).to(q.dtype), v)
    if impl == "sdpa":
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=gqa)
    from torch.nn.attention import SDPBackend, sdpa_kernel

    backend = {"sdpa-efficient": SDPBackend.EFFICIENT_ATTENTION, "sdpa-cudnn": SDPBackend.CUDNN_ATTENTION,
               "sdpa-math": SDPBackend.MATH}[impl]
    with sdpa_kernel([backend]):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=gqa)


def choose_enc_attention(W, D, device, dtype, inv_enc, N, replays=10):
    """Each encoder attention implementation: its agreement with an fp32 reference on one layer's
    inputs, and the audio part's time (stem + 32 layers + projector, CUDA graph) at N streams."""
    import torch

    out = {"streams": N, "candidates": {}}
    g = torch.Generator(device=device).manual_seed(5)
    Sl = ring_slots(D)
    q = torch.randn(4, D["enc_h"], D["down"], D["enc_hd"], device=device, generator=g).to(dtype)
    k = torch.randn(4, D["enc_kv"], Sl, D["enc_hd"], device=device, generator=g).to(dtype)
    v = torch.randn(4, D["enc_kv"], Sl, D["enc_hd"], device=device, generator=g).to(dtype)
    ar, slot_ids = torch.arange(D["down"], device=device), torch.arange(Sl, device=device)
    _, _, mask = enc_positions(torch.tensor([10_000], device=device), D, ar, slot_ids)
    ref = enc_attention(q.float(), k.float(), v.float(), mask, D, impl="matmul")
    S = State(D, N, 40, device, dtype)
    for impl in ENC_ATTN_CHOICES:
        row = {}
        try:
            with torch.no_grad():
                diff = float((enc_attention(q, k, v, mask, D, impl=impl).float() - ref).abs().max())
                row["max_abs_diff_vs_fp32"] = diff
                row["relative_to_max_output"] = diff / float(ref.abs().max())
                ENC_ATTN["impl"] = impl
                side = torch.cuda.Stream()
                side.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(side):
                    audio_part(W, S, D, inv_enc)
                torch.cuda.current_stream().wait_stream(side)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    audio_part(W, S, D, inv_enc)
                for _ in range(3):
                    graph.replay()
                ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(replays)]
                for e0, e1 in ev:
                    e0.record()
                    graph.replay()
                    e1.record()
                torch.cuda.synchronize()
                row["audio_part_ms"] = statistics.median(e0.elapsed_time(e1) for e0, e1 in ev)
                del graph
        except Exception as e:  # noqa: BLE001
            row["error"] = repr(e)[:300]
        out["candidates"][impl] = row
        log(f"encoder attention {impl}: {json.dumps(row)}")
    del S
    gc.collect()
    torch.cuda.empty_cache()
    ok = {i: r["audio_part_ms"] for i, r in out["candidates"].items() if "audio_part_ms" in r and r["relative_to_max_output"] < 0.02}
    out["chosen"] = min(ok, key=ok.get) if ok else "sdpa"
    return out


def dec_layer_step(layer, x, cos, sin, ada, kc, vc, wpos, length, D):
    """One decoder layer on one new token, x [N, 1, d]; kc, vc [N, kv, C+1, hd]; the token's key
    and value go to slot wpos (int64 [1]) and it attends over slots [0, length)."""
    import torch.nn.functional as F

    a = layer.self_attn
    N = x.shape[0]
    H, KV, hd = D["dec_h"], D["dec_kv"], D["dec_hd"]
    h = layer.input_layernorm(x)
    q = a.q_proj(h).view(N, 1, H, hd).transpose(1, 2)
    k = a.k_proj(h).view(N, 1, KV, hd).transpose(1, 2)
    v = a.v_proj(h).view(N, 1, KV, hd).transpose(1, 2)
    q = q * cos + rotate_half(q) * sin
    k = k * cos + rotate_half(k) * sin
    kc.index_copy_(2, wpos, k)
    vc.index_copy_(2, wpos, v)
    # GQA: query heads g*rep .. g*rep+rep-1 share KV head g (transformers' repeat_kv order), so
    # the rep query heads of a group are rep query rows over that group's keys: exact, no repeat.
    qg = q.reshape(N, KV, H // KV, hd)
    o = F.scaled_dot_product_attention(qg, kc[:, :, :length], vc[:, :, :length])
    x = x + a.o_proj(o.reshape(N, 1, H * hd))
    h = layer.post_attention_layernorm(x) * (1 + ada)
    return x + layer.mlp(h)


class State:
    """Every stream's static buffers for one (N streams, context C) cell."""

    def __init__(self, D, N, C, device, dtype, enc_pos0=10_000):
        import torch

        self.N, self.C = N, C
        S = ring_slots(D)
        mk = lambda *shape: torch.empty(*shape, device=device, dtype=dtype).normal_()  # noqa: E731
        self.mel = mk(N, D["mel"], 8)
        self.pad1 = mk(N, D["mel"], 2)
        self.pad2 = mk(N, D["enc_d"], 1)
        self.enc_k = mk(D["enc_layers"], N, D["enc_kv"], S, D["enc_hd"])
        self.enc_v = mk(D["enc_layers"], N, D["enc_kv"], S, D["enc_hd"])
        self.dec_k = mk(D["dec_layers"], N, D["dec_kv"], C + 1, D["dec_hd"])
        self.dec_v = mk(D["dec_layers"], N, D["dec_kv"], C + 1, D["dec_hd"])
        self.tok = torch.randint(0, D["vocab"], (N,), device=device)
        self.enc_pos = torch.full((1,), enc_pos0, device=device, dtype=torch.long)  # steady state
        self.dec_pos = torch.full((1,), C, device=device, dtype=torch.long)
        self.ar = torch.arange(D["down"], device=device)
        self.slot_ids = torch.arange(S, device=device)


def audio_part(W, S, D, inv_enc):
    import torch
    import torch.nn.functional as F

    m = W.embedder
    x1 = torch.cat([S.pad1, S.mel], dim=2)
    S.pad1.copy_(S.mel[:, :, -2:])
    h = F.gelu(m.conv1(x1))
    x2 = torch.cat([S.pad2, h], dim=2)
    S.pad2.copy_(h[:, :, -1:])
    # transformers' embedder returns this permute as a view; left so, every Linear after it in the
    # encoder runs as a batched GEMM per stream (about half the step at 128 streams, measured).
    # A serving engine's activations are contiguous [tokens, hidden]: so are these.
    x = F.gelu(m.conv2(x2)).permute(0, 2, 1).contiguous()  # [N, 4, enc_d]
    qpos, slots, mask = enc_positions(S.enc_pos, D, S.ar, S.slot_ids)
    cos, sin = rope(qpos, inv_enc, x.dtype)
    for i, layer in enumerate(W.enc_layers):
        x = enc_layer_step(layer, x, cos, sin, S.enc_k[i], S.enc_v[i], slots, mask, D)
    S.enc_pos.add_(D["down"])
    x = W.enc_norm(x).reshape(S.N, 1, D["enc_d"] * D["down"])
    return W.projector(x)  # [N, 1, dec_d]


def text_part(W, S, D, inv_dec, t_cond, audio_emb):
    import torch.nn.functional as F

    x = W.embed_tokens(S.tok)[:, None] + audio_emb
    cos, sin = rope(S.dec_pos, inv_dec, x.dtype)
    for i, layer in enumerate(W.dec_layers):
        ada = layer.ada_rms_norm(t_cond)
        x = dec_layer_step(layer, x, cos, sin, ada, S.dec_k[i], S.dec_v[i], S.dec_pos, S.C + 1, D)
    logits = F.linear(W.dec_norm(x[:, 0]), W.embed_tokens.weight)  # tied lm_head
    S.tok.copy_(logits.argmax(-1))
    return logits


def time_embedding(D, device, dtype):
    """VoxtralRealtimeTimeEmbedding of the delay tokens: t_cond [1, 1, dec_d]."""
    import torch

    half = D["dec_d"] // 2
    inv = torch.exp(-math.log(10000.0) * torch.arange(half).float() / half)
    emb = float(D["delay_tokens"]) * inv
    return torch.cat((emb.cos(), emb.sin()))[None, None].to(device, dtype)


def inv_freqs(D, tf):
    """Rotary inverse frequencies: transformers' own (VoxtralRealtimeRotaryEmbedding) if present."""
    import torch

    if tf is not None:
        try:
            from transformers.models.voxtral_realtime import modeling_voxtral_realtime as m

            cfg = tf[0]
            return (m.VoxtralRealtimeRotaryEmbedding(config=cfg.audio_config).inv_freq.float(),
                    m.VoxtralRealtimeRotaryEmbedding(config=cfg.text_config).inv_freq.float(), "transformers")
        except Exception as e:  # noqa: BLE001
            log("rotary from transformers failed, using theta 1e6:", repr(e))

    def f(hd, theta=1e6):
        return 1.0 / (theta ** (torch.arange(0, hd, 2).float() / hd))

    return f(D["enc_hd"]), f(D["dec_hd"]), "theta 1e6"


# ---------------------------------------------------------------------------------------------
# Check against transformers' classes


def check_against_transformers(tf):
    if tf is None:
        return {"checked": False, "why": "transformers (VoxtralRealtimeConfig) not importable"}
    import torch

    try:
        from transformers.models.voxtral_realtime import modeling_voxtral_realtime as m
    except Exception as e:  # noqa: BLE001
        return {"checked": False, "why": repr(e)}
    cfg, D = tf
    C = build_classes(D)
    out = {"checked": True}
    for sub in (cfg, cfg.audio_config, cfg.text_config):
        try:
            sub._attn_implementation = "eager"
        except Exception:  # noqa: BLE001
            pass

    def compare(mine, theirs):
        sa = {k: tuple(v.shape) for k, v in mine.state_dict().items()}
        sb = {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
        return dict(params_mine=sum(math.prod(x) for x in sa.values()),
                    params_transformers=sum(math.prod(x) for x in sb.values()),
                    same_names_and_shapes=sa == sb,
                    differences=[str(x) for x in sorted(set(sa.items()) ^ set(sb.items()))[:10]])

    def init_same(mine, theirs):
        with torch.no_grad():
            for name, p in theirs.named_parameters():
                if p.dim() > 1 or name.endswith("bias"):
                    p.normal_(0.0, 0.02)
                else:
                    p.normal_(1.0, 0.1)
            mine.load_state_dict(theirs.state_dict())

    inv_enc, inv_dec, _ = inv_freqs(D, tf)
    f32 = torch.float32
    # Encoder layer: this script's ring buffer, stepped 4 positions at a time over 760 positions
    # (past the window, so the ring wraps and the mask drops old keys), against transformers' layer
    # over the whole sequence with a sliding-window causal mask.
    row = {}
    try:
        torch.manual_seed(1)
        theirs = m.VoxtralRealtimeEncoderLayer(cfg.audio_config, 0).eval()
        mine = C["EncoderLayer"]().eval()
        row.update(compare(mine, theirs))
        if row["same_names_and_shapes"]:
            init_same(mine, theirs)
            T = 4 * ((D["enc_window"] + 12) // 4)
            x = torch.randn(1, T, D["enc_d"])
            pos = torch.arange(T)[None]
            rot = m.VoxtralRealtimeRotaryEmbedding(config=cfg.audio_config)
            cos, sin = rot(x, position_ids=pos)
            i = torch.arange(T)
            vis = (i[None, :] <= i[:, None]) & (i[None, :] > i[:, None] - D["enc_window"])
            fmask = torch.zeros(T, T).masked_fill(~vis, torch.finfo(f32).min)[None, None]
            with torch.no_grad():
                want = theirs(x, attention_mask=fmask, position_ids=pos, position_embeddings=(cos, sin))
                want = want[0] if isinstance(want, tuple) else want
                S = ring_slots(D)
                kc = torch.zeros(1, D["enc_kv"], S, D["enc_hd"])
                vc = torch.zeros_like(kc)
                ar, slot_ids = torch.arange(D["down"]), torch.arange(S)
                got = []
                for p in range(0, T, D["down"]):
                    qpos, slots, mask = enc_positions(torch.tensor([p]), D, ar, slot_ids)
                    c2, s2 = rope(qpos, inv_enc, f32)
                    got.append(enc_layer_step(mine, x[:, p:p + D["down"]], c2, s2, kc, vc, slots, mask, D))
                got = torch.cat(got, dim=1)
            row["positions"] = T
            row["max_abs_diff"] = float((got - want).abs().max())
            row["same_output"] = bool(torch.allclose(got, want, atol=1e-4, rtol=1e-3))
    except Exception as e:  # noqa: BLE001
        row["error"] = repr(e)
    out["encoder_layer"] = row

    # Decoder layer: this script's static cache, one token a step, against transformers' layer on
    # the whole sequence with a causal mask.
    row = {}
    try:
        torch.manual_seed(2)
        theirs = m.VoxtralRealtimeTextDecoderLayer(cfg.text_config, 0).eval()
        mine = C["DecoderLayer"]().eval()
        row.update(compare(mine, theirs))
        if row["same_names_and_shapes"]:
            init_same(mine, theirs)
            T = 6
            x = torch.randn(1, T, D["dec_d"])
            t_cond = torch.randn(1, 1, D["dec_d"])
            pos = torch.arange(T)[None]
            rot = m.VoxtralRealtimeRotaryEmbedding(config=cfg.text_config)
            cos, sin = rot(x, position_ids=pos)
            fmask = torch.triu(torch.full((T, T), torch.finfo(f32).min), 1)[None, None]
            with torch.no_grad():
                want = theirs(x, attention_mask=fmask, position_ids=pos, position_embeddings=(cos, sin), t_cond=t_cond)
                want = want[0] if isinstance(want, tuple) else want
                kc = torch.zeros(1, D["dec_kv"], T, D["dec_hd"])
                vc = torch.zeros_like(kc)
                ada = mine.ada_rms_norm(t_cond)
                got = []
                for p in range(T):
                    wpos = torch.tensor([p])
                    c2, s2 = rope(wpos, inv_dec, f32)
                    got.append(dec_layer_step(mine, x[:, p:p + 1], c2, s2, ada, kc, vc, wpos, p + 1, D))
                got = torch.cat(got, dim=1)
            row["max_abs_diff"] = float((got - want).abs().max())
            row["same_output"] = bool(torch.allclose(got, want, atol=1e-4, rtol=1e-3))
    except Exception as e:  # noqa: BLE001
        row["error"] = repr(e)
    out["decoder_layer"] = row

    # Conv stem: streamed 8 frames at a time with its pads, against transformers' embedder at once.
    row = {}
    try:
        torch.manual_seed(3)
        theirs = m.VoxtralRealtimeEmbedder(cfg.audio_config).eval()
        mine = C["Embedder"]().eval()
        row.update(compare(mine, theirs))
        if row["same_names_and_shapes"]:
            init_same(mine, theirs)
            mel = torch.randn(1, D["mel"], 24)
            with torch.no_grad():
                want = theirs(mel)
                S = State.__new__(State)
                S.pad1 = torch.zeros(1, D["mel"], 2)
                S.pad2 = torch.zeros(1, D["enc_d"], 1)
                got = []
                for p in range(0, 24, 8):
                    S.mel = mel[:, :, p:p + 8]
                    x1 = torch.cat([S.pad1, S.mel], dim=2)
                    S.pad1.copy_(S.mel[:, :, -2:])
                    h = torch.nn.functional.gelu(mine.conv1(x1))
                    x2 = torch.cat([S.pad2, h], dim=2)
                    S.pad2.copy_(h[:, :, -1:])
                    got.append(torch.nn.functional.gelu(mine.conv2(x2)).permute(0, 2, 1))
                got = torch.cat(got, dim=1)
            row["max_abs_diff"] = float((got - want).abs().max())
            row["same_output"] = bool(torch.allclose(got, want, atol=1e-4, rtol=1e-3))
    except Exception as e:  # noqa: BLE001
        row["error"] = repr(e)
    out["embedder"] = row

    row = {}
    try:
        with torch.device("meta"):
            row.update(compare(C["Projector"](), m.VoxtralRealtimeMultiModalProjector(cfg)))
    except Exception as e:  # noqa: BLE001
        row["error"] = repr(e)
    out["projector"] = row

    row = {}
    try:
        with torch.device("meta"):
            full = m.VoxtralRealtimeForConditionalGeneration(cfg)
            mine = C["Model"]()
        row["params_transformers"] = sum(p.numel() for p in full.parameters())  # shared counted once
        row["params_mine"] = sum(p.numel() for p in mine.parameters())
        row["transformers_lm_head_tied"] = full.get_output_embeddings().weight is full.get_input_embeddings().weight
        row["same_total"] = row["params_transformers"] == row["params_mine"]
    except Exception as e:  # noqa: BLE001
        row["error"] = repr(e)
    out["whole_model"] = row
    return out


# ---------------------------------------------------------------------------------------------
# Timing


def build_weights(D, device, dtype, seed=0):
    import torch

    torch.manual_seed(seed)
    with torch.no_grad():
        with torch.device("meta"):
            W = build_classes(D)["Model"]()
        W = W.to(dtype=dtype).to_empty(device=device).eval()
        for name, p in W.named_parameters():
            if p.dim() > 1:  # small random weights
                p.normal_(0.0, 0.02)
            elif name.endswith(".bias"):
                p.zero_()
            else:  # norms
                p.fill_(1.0)
    for p in W.parameters():
        p.requires_grad_(False)
    return W


def summarize(ms):
    s = sorted(ms)
    return dict(median=statistics.median(s), min=s[0], p90=s[min(len(s) - 1, int(0.9 * len(s)))], max=s[-1], n=len(s))


def run_cell(W, D, N, C, a, device, dtype, consts, free_base):
    import torch

    cuda = device.type == "cuda"
    enc_b, dec_b, pad_b = per_stream_bytes(D, C, torch.finfo(dtype).bits // 8)
    need = N * (enc_b + dec_b + pad_b)
    cell = {"streams": N, "ctx": C, "cache_bytes": need,
            "cache_mib_per_stream": (enc_b + dec_b + pad_b) / MIB}
    if cuda:
        free = torch.cuda.mem_get_info()[0]
        margin = a.margin_gib * GIB + N * D["vocab"] * 8  # logits and the step's temporaries
        cell["free_gib_before"] = free / GIB
        if need + margin > free:
            cell["status"] = "does not fit"
            cell["why"] = f"caches need {need / GIB:.1f} GiB (+{margin / GIB:.1f} GiB margin), {free / GIB:.1f} GiB free"
            return cell
    inv_enc, inv_dec, t_cond = consts
    S = None
    graphs = []
    try:
        S = State(D, N, C, device, dtype)
        if cuda:
            torch.cuda.synchronize()
            cell["allocated_gib"] = torch.cuda.memory_allocated() / GIB

        def step():
            return text_part(W, S, D, inv_dec, t_cond, audio_part(W, S, D, inv_enc))

        holder = {}

        def audio_only():
            holder["audio"] = audio_part(W, S, D, inv_enc)

        def text_only():
            text_part(W, S, D, inv_dec, t_cond, holder["audio"])

        with torch.no_grad():
            # Eager (Python launches every kernel): warm-up, then timed.
            eager = []
            side = torch.cuda.Stream() if cuda else None
            ctx_mgr = torch.cuda.stream(side) if cuda else _null()
            if cuda:
                side.wait_stream(torch.cuda.current_stream())
            with ctx_mgr:
                for i in range(a.eager_steps + 2):
                    t = time.perf_counter()
                    step()
                    if cuda:
                        torch.cuda.synchronize()
                    if i >= 2:
                        eager.append(1000 * (time.perf_counter() - t))
                if cuda:
                    audio_only()
                    text_only()
            if cuda:
                torch.cuda.current_stream().wait_stream(side)
            cell["eager_step_ms"] = summarize(eager)
            if not cuda:  # no graphs: the eager steps are the measurement
                cell["status"] = "ok (eager, no CUDA)"
                cell["step_ms"] = cell["eager_step_ms"]
                return cell

            def capture(fn):
                g = torch.cuda.CUDAGraph()
                with torch.cuda.graph(g):
                    fn()
                graphs.append(g)
                return g

            def timed(g):
                for _ in range(a.warmup):
                    g.replay()
                ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(a.replays)]
                for e0, e1 in ev:
                    e0.record()
                    g.replay()
                    e1.record()
                torch.cuda.synchronize()
                return summarize([e0.elapsed_time(e1) for e0, e1 in ev])

            t = time.monotonic()
            g = capture(step)
            cell["capture_s"] = time.monotonic() - t
            cell["step_ms"] = timed(g)
            cell["status"] = "ok"
            cell["peak_allocated_gib"] = torch.cuda.max_memory_allocated() / GIB
            if a.breakdown:
                try:
                    cell["audio_part_ms"] = timed(capture(audio_only))
                    cell["text_part_ms"] = timed(capture(text_only))
                except torch.cuda.OutOfMemoryError as e:
                    cell["breakdown_error"] = "OOM: " + str(e).split("\n")[0]
    except torch.cuda.OutOfMemoryError as e:
        cell["status"] = "out of memory"
        cell["why"] = str(e).split("\n")[0]
    except Exception as e:  # noqa: BLE001
        cell["status"] = "error"
        cell["why"] = repr(e)[:500]
    finally:
        del graphs[:]
        S = None
        gc.collect()
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
    return cell


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


# ---------------------------------------------------------------------------------------------
# Derived figures


def derive(R, D, budget_ms=STEP_MS):
    cells = [c for c in R["cells"] if str(c.get("status", "")).startswith("ok")]
    out = {}
    for C in sorted({c["ctx"] for c in R["cells"]}):
        rows = sorted((c["streams"], c["step_ms"]["median"]) for c in cells if c["ctx"] == C)
        enc_b, dec_b, pad_b = per_stream_bytes(D, C)
        per = enc_b + dec_b + pad_b
        d = {"cache_mib_per_stream": per / MIB, "encoder_cache_mib": enc_b / MIB, "decoder_cache_mib": dec_b / MIB}
        if R.get("free_gib_after_weights") is not None:
            usable = (R["free_gib_after_weights"] - R["args"]["margin_gib"]) * GIB
            d["memory_bound_streams"] = int(usable // (per + D["vocab"] * 8))
        for label, limit in (("80ms", budget_ms), ("60ms", 0.75 * budget_ms)):
            under = [(n, t) for n, t in rows if t < limit]
            over = [(n, t) for n, t in rows if t >= limit]
            best = max(under) if under else None
            e = {"largest_measured_under": best[0] if best else None}
            nxt = min((r for r in over if best is None or r[0] > best[0]), default=None)
            if best and nxt:
                (n1, t1), (n2, t2) = best, nxt
                e["interpolated"] = n1 + (limit - t1) * (n2 - n1) / (t2 - t1)
                e["how"] = f"linear between {n1} ({t1:.1f} ms) and {n2} ({t2:.1f} ms)"
            elif best:
                e["how"] = f"every measured N up to {best[0]} is under {limit:.0f} ms; none measured above"
            d["streams_under_" + label] = e
        rt = d["streams_under_80ms"]
        mem = d.get("memory_bound_streams")
        tried = [c["streams"] for c in R["cells"] if c["ctx"] == C]
        no_fit = [c["streams"] for c in R["cells"] if c["ctx"] == C and not str(c.get("status", "")).startswith("ok")]
        if "interpolated" in rt:
            compute = rt["interpolated"]
            if mem is not None and mem < compute:
                d["max_realtime_streams"], d["bound"] = mem, "memory"
            else:
                d["max_realtime_streams"], d["bound"] = compute, "compute (80 ms, interpolated)"
        elif rt["largest_measured_under"] is not None:
            if no_fit and min(no_fit) > rt["largest_measured_under"] and mem is not None:
                # every N that fit is under 80 ms and the next one tried did not fit: memory binds
                d["max_realtime_streams"], d["bound"] = mem, "memory (estimated; every N that fit is under 80 ms)"
            else:
                d["max_realtime_streams"] = rt["largest_measured_under"]
                d["bound"] = f"at least this: the largest N tried ({max(tried)}) is under 80 ms"
        out[str(C)] = d
    return out


# ---------------------------------------------------------------------------------------------


def machine():
    info = {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count()}
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
        if torch.cuda.is_available():
            p = torch.cuda.get_device_properties(0)
            info["gpu"] = p.name
            info["gpu_memory_gib"] = p.total_memory / GIB
            info["gpu_capability"] = f"{p.major}.{p.minor}"
            info["gpu_count"] = torch.cuda.device_count()
            info["sdpa"] = {"flash": torch.backends.cuda.flash_sdp_enabled(),
                            "mem_efficient": torch.backends.cuda.mem_efficient_sdp_enabled(),
                            "cudnn": getattr(torch.backends.cuda, "cudnn_sdp_enabled", lambda: None)(),
                            "math": torch.backends.cuda.math_sdp_enabled()}
    except Exception as e:  # noqa: BLE001
        info["torch_error"] = repr(e)
    try:
        import transformers

        info["transformers"] = transformers.__version__
    except Exception:  # noqa: BLE001
        pass
    try:
        q = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit",
                            "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
        info["nvidia_smi"] = q.stdout.strip()
    except Exception:  # noqa: BLE001
        pass
    return info


def ints(s):
    return [int(x) for x in s.split(",") if x]


def plan(a):
    """Cells in order of importance, so that a budget cut or a timeout drops the least needed."""
    streams, ctxs = ints(a.streams), ints(a.contexts)
    first = [(n, c) for n, c in ((128, 40), (256, 40), (128, 1000), (256, 1000), (64, 8000), (128, 8000))
             if n in streams and c in ctxs]
    rest = [(n, c) for c in ctxs for n in streams if (n, c) not in first]
    extra = [tuple(int(v) for v in x.split("x")) for x in a.extra.split(",") if x]
    return first + rest + [e for e in extra if e not in first + rest]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--tiny", action="store_true", help="toy sizes: a dry run of every code path")
    ap.add_argument("--streams", default=None, help="default 1,8,32,64,128,256 (tiny: 1,8,32)")
    ap.add_argument("--contexts", default=None, help="default 40,1000,8000 (tiny: 40,200)")
    ap.add_argument("--extra", default=None, help="more cells after the grid, as NxC (default 320x40,384x40,512x40,320x1000,384x1000,96x8000)")
    ap.add_argument("--replays", type=int, default=50, help="timed graph replays per cell (median reported)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed replays first")
    ap.add_argument("--eager-steps", type=int, default=3)
    ap.add_argument("--no-breakdown", dest="breakdown", action="store_false", help="skip the audio/text part graphs")
    ap.add_argument("--no-check", dest="check", action="store_false", help="skip the check against transformers")
    ap.add_argument("--enc-attn", default="auto", choices=("auto",) + ENC_ATTN_CHOICES,
                    help="encoder attention: auto = the fastest exact one, timed at 128 streams first")
    ap.add_argument("--margin-gib", type=float, default=3.0, help="GPU memory kept free beyond the caches")
    ap.add_argument("--budget-s", type=float, default=540, help="skip cells that would start after this")
    a = ap.parse_args()
    if a.streams is None:
        a.streams = "1,8,32" if a.tiny else "1,8,32,64,128,256"
    if a.contexts is None:
        a.contexts = "40,200" if a.tiny else "40,1000,8000"
    if a.extra is None:
        a.extra = "64x200" if a.tiny else "320x40,384x40,512x40,320x1000,384x1000,96x8000"

    import torch

    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, "gpu_bench.json")
    R = {"args": vars(a), "machine": machine(), "cells": [], "skipped": []}

    def save():
        with open(path, "w") as f:
            json.dump(R, f, indent=1)

    log("machine", json.dumps(R["machine"]))
    tf, why = transformers_config()
    if a.tiny:
        D, R["dims_source"] = dict(TINY), "tiny (toy sizes)"
    elif tf is not None:
        D, R["dims_source"] = tf[1], "transformers VoxtralRealtimeConfig()"
        R["dims_match_written_defaults"] = {k: (D[k], REAL[k]) for k in REAL if D[k] != REAL[k]} or True
    else:
        D, R["dims_source"] = dict(REAL), f"written defaults (transformers unavailable: {why})"
    R["dims"] = D
    R["ring_slots"] = ring_slots(D)
    log("dims", R["dims_source"], json.dumps(D))
    if a.check:
        t = time.monotonic()
        R["layer_check"] = check_against_transformers(tf)
        R["layer_check"]["seconds"] = time.monotonic() - t
        log("layer check", json.dumps(R["layer_check"]))
    save()

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    R["device"], R["dtype"] = str(device), str(dtype)
    t = time.monotonic()
    W = build_weights(D, device, dtype)
    R["params"] = {
        "total": sum(p.numel() for p in W.parameters()),
        "encoder": sum(p.numel() for n, p in W.named_parameters() if n.startswith(("embedder", "enc_"))),
        "projector": sum(p.numel() for n, p in W.named_parameters() if n.startswith("projector")),
        "decoder": sum(p.numel() for n, p in W.named_parameters() if n.startswith(("embed_tokens", "dec_"))),
    }
    R["weights_gib"] = sum(p.numel() * p.element_size() for p in W.parameters()) / GIB
    log(f"weights built in {time.monotonic() - t:.1f}s: {json.dumps(R['params'])}, {R['weights_gib']:.2f} GiB")
    inv_enc, inv_dec, R["rotary_source"] = inv_freqs(D, None if a.tiny else tf)
    consts = (inv_enc.to(device), inv_dec.to(device), time_embedding(D, device, dtype))
    if a.enc_attn == "auto" and device.type == "cuda":
        R["enc_attention"] = choose_enc_attention(W, D, device, dtype, consts[0], 8 if a.tiny else 128)
        ENC_ATTN["impl"] = R["enc_attention"]["chosen"]
    else:
        ENC_ATTN["impl"] = "sdpa" if a.enc_attn == "auto" else a.enc_attn
        R["enc_attention"] = {"chosen": ENC_ATTN["impl"]}
    log("encoder attention:", ENC_ATTN["impl"])
    save()
    free_base = None
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        free_base = torch.cuda.mem_get_info()[0]
        R["free_gib_after_weights"] = free_base / GIB
    save()

    for N, C in plan(a):
        if time.monotonic() - T0 > a.budget_s:
            R["skipped"].append(f"{N} streams ctx {C} (budget)")
            save()
            continue
        cell = run_cell(W, D, N, C, a, device, dtype, consts, free_base)
        R["cells"].append(cell)
        R["derived"] = derive(R, D)
        save()
        if str(cell["status"]).startswith("ok"):
            extra = ""
            if "audio_part_ms" in cell:
                extra = f" (audio {cell['audio_part_ms']['median']:.2f}, text {cell['text_part_ms']['median']:.2f})"
            log(f"N {N:4d} ctx {C:5d}: step {cell['step_ms']['median']:7.2f} ms median "
                f"[{cell['step_ms']['min']:.2f}..{cell['step_ms']['max']:.2f}], eager {cell['eager_step_ms']['median']:.1f} ms{extra}")
        else:
            log(f"N {N:4d} ctx {C:5d}: {cell['status']}: {cell.get('why', '')}")
    R["derived"] = derive(R, D)
    R["seconds"] = time.monotonic() - T0
    save()
    print_table(R)


def print_table(R):
    cells = {(c["streams"], c["ctx"]): c for c in R["cells"]}
    ctxs = sorted({c for _, c in cells})
    streams = sorted({n for n, _ in cells})
    print(f"\nstep ms, median of {R['args']['replays']} CUDA-graph replays ({R['machine'].get('gpu', R['device'])}, {R['dtype']})")
    print("| streams | " + " | ".join(f"ctx {c}" for c in ctxs) + " |")
    print("|---|" + "---|" * len(ctxs))
    for n in streams:
        row = []
        for c in ctxs:
            cell = cells.get((n, c))
            if cell is None:
                row.append("-")
            elif str(cell["status"]).startswith("ok"):
                row.append(f"{cell['step_ms']['median']:.1f}")
            else:
                row.append(cell["status"])
        print(f"| {n} | " + " | ".join(row) + " |")
    print("\nderived, per context:")
    for c, d in R.get("derived", {}).items():
        rt = d["streams_under_80ms"]
        print(f"ctx {c}: cache {d['cache_mib_per_stream']:.0f} MiB/stream, memory bound {d.get('memory_bound_streams')} streams, "
              f"real time: largest measured {rt['largest_measured_under']}, interpolated {rt.get('interpolated')}, "
              f"max real-time streams {d.get('max_realtime_streams')} ({d.get('bound')}); {rt.get('how', '')}")
    if R["skipped"]:
        print("skipped:", R["skipped"])


if __name__ == "__main__":
    main()
