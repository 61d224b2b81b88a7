;; The filtering phase of the 8 → 16 kHz half-band upsampler, in WebAssembly SIMD.
;;
;; Memory (one 64 KiB page, laid out by upsampler.ts):
;;   [0, 64)        the 32 Q14 taps as int16 (symmetric, so no reversal is needed)
;;   [64, ...)      input: 31 samples of history, then the chunk (int16)
;;   [OUT, ...)     output: two int16 samples per input sample
;;   [TABLE, +512)  the G.711 μ-law decoding table (256 int16), for decode_mulaw
;;   [BYTES, ...)   μ-law bytes to decode
;;   [SAVED, +62)   where upsample leaves the last 31 input samples: the next call's history
;;
;; For each input sample k (0 ≤ k < n), with x = the input area:
;;   out[2k]     = clamp((Σ_{j<32} tap[j] · x[k + j] + 2^13) >> 14)   filtered phase
;;   out[2k + 1] = x[k + 16]                                          the centre tap: a copy
;; i32x4.dot_i16x8_s multiplies eight int16 pairs and adds neighbours into four int32 lanes. No
;; lane can overflow: every partial sum is bounded by Σ|tap| · 32768 ≈ 1.3·10^9 < 2^31.
(module
  (memory (export "memory") 1)
  ;; dst[i] = table[src[i]] for i < n: μ-law bytes to int16 samples.
  (func (export "decode_mulaw") (param $n i32) (param $src i32) (param $dst i32) (param $table i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $src) (local.get $n)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (i32.store16 (local.get $dst)
          (i32.load16_s (i32.add (local.get $table) (i32.shl (i32.load8_u (local.get $src)) (i32.const 1)))))
        (local.set $src (i32.add (local.get $src) (i32.const 1)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 2)))
        (br $next))))

  (func (export "upsample") (param $n i32) (param $in i32) (param $out i32) (param $saved i32)
    (local $k i32) (local $p i32) (local $q i32) (local $v i32) (local $s v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $t0 (v128.load offset=0 (i32.const 0)))
    (local.set $t1 (v128.load offset=16 (i32.const 0)))
    (local.set $t2 (v128.load offset=32 (i32.const 0)))
    (local.set $t3 (v128.load offset=48 (i32.const 0)))
    (local.set $p (local.get $in))
    (local.set $q (local.get $out))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $k) (local.get $n)))
        (local.set $s
          (i32x4.add
            (i32x4.add
              (i32x4.dot_i16x8_s (v128.load offset=0 (local.get $p)) (local.get $t0))
              (i32x4.dot_i16x8_s (v128.load offset=16 (local.get $p)) (local.get $t1)))
            (i32x4.add
              (i32x4.dot_i16x8_s (v128.load offset=32 (local.get $p)) (local.get $t2))
              (i32x4.dot_i16x8_s (v128.load offset=48 (local.get $p)) (local.get $t3)))))
        ;; Sum the four lanes: add the upper half onto the lower, then lane 1 onto lane 0.
        (local.set $s
          (i32x4.add (local.get $s)
            (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $s) (local.get $s))))
        (local.set $s
          (i32x4.add (local.get $s)
            (i8x16.shuffle 4 5 6 7 0 1 2 3 12 13 14 15 8 9 10 11 (local.get $s) (local.get $s))))
        (local.set $v
          (i32.shr_s (i32.add (i32x4.extract_lane 0 (local.get $s)) (i32.const 8192)) (i32.const 14)))
        (local.set $v
          (select (i32.const 32767) (local.get $v) (i32.gt_s (local.get $v) (i32.const 32767))))
        (local.set $v
          (select (i32.const -32768) (local.get $v) (i32.lt_s (local.get $v) (i32.const -32768))))
        (i32.store16 offset=0 (local.get $q) (local.get $v))
        (i32.store16 offset=2 (local.get $q) (i32.load16_s offset=32 (local.get $p)))
        (local.set $p (i32.add (local.get $p) (i32.const 2)))
        (local.set $q (i32.add (local.get $q) (i32.const 4)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $next)))
    ;; The newest 31 input samples become the history of the leg's next chunk.
    (memory.copy (local.get $saved) (i32.add (local.get $in) (i32.shl (local.get $n) (i32.const 1))) (i32.const 62))))
