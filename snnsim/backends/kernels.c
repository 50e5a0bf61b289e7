/* Compiled CPU loops of the fused backend (see _native.py for how they are built and called).
 *
 * The file includes itself twice, once with real = float (suffix _f32) and once with
 * real = double (_f64). Arrays are (rows, steps, n) with n contiguous: a row is one model (the
 * fused backend passes time-major data, so n = batch * neurons) or one (model, sample) pair.
 *
 * Compiled with -ffp-contract=off: alpha*v + h is rounded twice, as torch's separate multiply
 * and add are, so LIF/LI forward passes are bit-identical to snnsim.functional.lif.
 */
#ifndef real
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define R restrict
#define INLINE __attribute__((always_inline))
#if defined(__AVX__)
#include <immintrin.h>
#endif

/* Threads: every exported kernel takes nth (threads) last and splits its work into nth tiles
 * with OpenMP (static: tile k always on the same rows/columns for a given nth); each element is
 * computed by the same code whatever the tiling, so the numbers do not depend on nth. */
static inline void span_of(int64_t k, int64_t parts, int64_t n, int64_t multiple, int64_t* a, int64_t* b) {
    *a = (n * k / parts + multiple - 1) / multiple * multiple;
    *b = k + 1 == parts ? n : (n * (k + 1) / parts + multiple - 1) / multiple * multiple;
    if (*a > n) *a = n;
    if (*b > n) *b = n;
}

static inline int64_t min_i64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Tile k of nth over (rows, n): whole rows when there are at least nth of them, else windows of
 * columns (multiples of 16: whole cache lines). */
static inline void tile_of(int64_t k, int64_t nth, int64_t rows, int64_t n, int64_t* r0, int64_t* r1,
                           int64_t* c0, int64_t* c1) {
    if (rows >= nth || n < 32) { span_of(k, nth, rows, 1, r0, r1); *c0 = 0; *c1 = n; }
    else { *r0 = 0; *r1 = rows; span_of(k, nth, n, 16, c0, c1); }
}

/* Subnormal floats flushed to zero (and read as zero) inside the backward kernels, then the
 * caller's mode restored: the surrogate's sigmoid of far-off membranes is ~1e-40, and this
 * CPU computes with subnormal numbers about 10x slower. Only values below 1.2e-38 change. */
#if defined(SNNSIM_KEEP_SUBNORMALS)  /* for comparisons: SNNSIM_CFLAGS=-DSNNSIM_KEEP_SUBNORMALS */
#define FTZ_BEGIN
#define FTZ_END
#elif defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#define FTZ_BEGIN unsigned int saved_csr_ = _mm_getcsr(); _mm_setcsr(saved_csr_ | 0x8040u);
#define FTZ_END _mm_setcsr(saved_csr_);
#elif defined(__aarch64__)
#define FTZ_BEGIN uint64_t saved_fpcr_; __asm__ volatile("mrs %0, fpcr" : "=r"(saved_fpcr_)); \
    __asm__ volatile("msr fpcr, %0" : : "r"(saved_fpcr_ | (UINT64_C(1) << 24)));
#define FTZ_END __asm__ volatile("msr fpcr, %0" : : "r"(saved_fpcr_));
#else
#define FTZ_BEGIN
#define FTZ_END
#endif

/* expf to about 2 ulp in [-87, 88] (Cephes' polynomial), written so that gcc vectorises the loops
 * that call it; used for the float32 surrogate gradient only. */
static inline float exp_f32(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    float n = floorf(x * 1.44269504088896341f + 0.5f);
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}
static inline float sigmoid_f32(float z) { return 1.0f / (1.0f + exp_f32(-z)); }
static inline double sigmoid_f64(double z) { return 1.0 / (1.0 + exp(-z)); }

/* CSR of a 0/1 byte matrix x (rows, cols): ptr (rows+1), idx (nnz + 1, filled when idx != NULL). */
void csr_build(const uint8_t* R x, int64_t rows, int64_t cols, int64_t* R ptr, int16_t* R idx) {
    int64_t k = 0;
    ptr[0] = 0;
    for (int64_t r = 0; r < rows; ++r) {
        const uint8_t* xr = x + r * cols;
        /* branchless: the input bits are random, a branch would mispredict ~1 in 4 */
        if (idx) { for (int64_t c = 0; c < cols; ++c) { idx[k] = (int16_t)c; k += xr[c] != 0; } }
        else { for (int64_t c = 0; c < cols; ++c) k += xr[c] != 0; }
        ptr[r + 1] = k;
    }
}

/* Per-sample CSC of a 0/1 byte array x (samples, steps, cols): for sample s and column c the
 * steps at which x is 1, increasing, in step[base[s] + off[s*(cols+1) + c] ...]. base (samples + 1)
 * and off (samples * (cols+1)) are filled by a first call with step == NULL; base[samples] is the
 * total count. */
void csc_build(const uint8_t* R x, int64_t samples, int64_t steps, int64_t cols, int64_t* R base,
               int32_t* R off, int16_t* R step) {
    int64_t total = 0;
    int32_t* count = calloc(cols + 1, sizeof(int32_t));
    for (int64_t s = 0; s < samples; ++s) {
        const uint8_t* xs = x + s * steps * cols;
        int32_t* o = off + s * (cols + 1);
        if (!step) {
            memset(count, 0, (cols + 1) * sizeof(int32_t));
            for (int64_t t = 0; t < steps; ++t)
                for (int64_t c = 0; c < cols; ++c) count[c] += xs[t * cols + c] != 0;
            o[0] = 0;
            for (int64_t c = 0; c < cols; ++c) o[c + 1] = o[c] + count[c];
            base[s] = total;
            total += o[cols];
        } else {
            /* column by column, branchless: an inactive step is written one past the column's
             * last entry and overwritten by the next column or sample (step has one spare) */
            int16_t* out = step + base[s];
            for (int64_t c = 0; c < cols; ++c) {
                int64_t k = o[c];
                for (int64_t t = 0; t < steps; ++t) { out[k] = (int16_t)t; k += xs[t * cols + c] != 0; }
            }
        }
    }
    if (!step) base[samples] = total;
    free(count);
}

/* Bernoulli draws from torch's CPU generator: the MT19937 stream of state mt (624 words) at
 * position *pos (624: the state is twisted first), each draw u = (word & 0xFFFFFF) * 2^-24 as
 * torch.rand gives in float32, and out[i] = u < p[i] as torch.lt: the bytes of
 * torch.lt(torch.rand(n, generator=g), p) (tested bit for bit). *pos is advanced. */
static void mt_twist(uint32_t* R mt) {
#define MT_Y(a, b) (((a) & 0x80000000u) | ((b) & 0x7fffffffu))
#define MT_NEXT(m, y) ((m) ^ ((y) >> 1) ^ (((y) & 1u) ? 0x9908b0dfu : 0u))
    int i = 0;
    for (; i < 227; ++i) { uint32_t y = MT_Y(mt[i], mt[i + 1]); mt[i] = MT_NEXT(mt[i + 397], y); }
    for (; i < 623; ++i) { uint32_t y = MT_Y(mt[i], mt[i + 1]); mt[i] = MT_NEXT(mt[i - 227], y); }
    { uint32_t y = MT_Y(mt[623], mt[0]); mt[623] = MT_NEXT(mt[396], y); }
#undef MT_Y
#undef MT_NEXT
}

void mt_bernoulli_f32(uint32_t* R mt, int64_t* R pos, const float* R p, int64_t n, uint8_t* R out) {
    int64_t k = *pos, i = 0;
    while (i < n) {
        if (k >= 624) { mt_twist(mt); k = 0; }
        int64_t m = min_i64(624 - k, n - i);
        const uint32_t* w = mt + k;
        for (int64_t j = 0; j < m; ++j) {
            uint32_t y = w[j];
            y ^= y >> 11;
            y ^= (y << 7) & 0x9d2c5680u;
            y ^= (y << 15) & 0xefc60000u;
            y ^= y >> 18;
            out[i + j] = (float)(y & 0xffffffu) * 5.9604644775390625e-08f < p[i + j];
        }
        i += m;
        k += m;
    }
    *pos = k;
}

#define real float
#define SUF(name) name##_f32
#define SIGMOID sigmoid_f32
#include __FILE__
#undef real
#undef SUF
#undef SIGMOID

#define real double
#define SUF(name) name##_f64
#define SIGMOID sigmoid_f64
#include __FILE__
#undef real
#undef SUF
#undef SIGMOID

#else /* ------------------------------------------------------------ kernels for one type */

/* Arrays are (rows, steps, ld); a call works on n <= ld columns starting at the pointers (the
 * callers split wide rows into column windows: every column is independent). */

/* LIF: v[t+1] = (alpha*v[t] + h[t]) * (1 - s[t]),  s[t+1] = v[t] > v_th,  v[0] = s[0] = 0. */
static inline INLINE void SUF(lif_fwd_tile)(const real* R h, real* R s, real* R v, int64_t rows, int64_t steps, int64_t n,
                              int64_t ld, real alpha, real vth) {
    for (int64_t r = 0; r < rows; ++r) {
        const real* hr = h + r * steps * ld;
        real* sr = s + r * steps * ld;
        real* vr = v + r * steps * ld;
        for (int64_t i = 0; i < n; ++i) { sr[i] = 0; vr[i] = 0; }
        for (int64_t t = 0; t + 1 < steps; ++t) {
            const real* ht = hr + t * ld; const real* st = sr + t * ld; const real* vt = vr + t * ld;
            real* sn = sr + (t + 1) * ld; real* vn = vr + (t + 1) * ld;
            for (int64_t i = 0; i < n; ++i) {
                real a = alpha * vt[i];
                a = a + ht[i];
                vn[i] = a * ((real)1 - st[i]);
                sn[i] = vt[i] > vth ? (real)1 : (real)0;
            }
        }
    }
}

/* LIF adjoint (BPTT), t = T-2 .. 0, with g_t = slope * sig * (1 - sig), sig = sigmoid(slope*(v_t - vth)):
 *   gh[t] = (1 - s_t) lv,   lv' = gv[t] + alpha (1 - s_t) lv + g_t ls,   ls' = gs[t] - (alpha v_t + h_t) lv
 * where lv, ls hold lambda^v_{t+1}, lambda^s_{t+1}. gs or gv may be NULL (no gradient).
 * work: 3 n scratch values. */
static inline INLINE void SUF(lif_bwd_tile)(const real* R h, const real* R s, const real* R v, const real* R gs,
                              const real* R gv, real* R gh, real* R work, int64_t rows, int64_t steps, int64_t n,
                              int64_t ld, real alpha, real vth, real slope) {
    FTZ_BEGIN
    real* R lv = work;
    real* R ls = work + n;
    for (int64_t r = 0; r < rows; ++r) {
        int64_t off = r * steps * ld, last = (steps - 1) * ld;
        const real* hr = h + off; const real* sr = s + off; const real* vr = v + off;
        const real* gsr = gs ? gs + off : 0; const real* gvr = gv ? gv + off : 0;
        real* ghr = gh + off;
        for (int64_t i = 0; i < n; ++i) {
            lv[i] = gvr ? gvr[last + i] : (real)0;
            ls[i] = gsr ? gsr[last + i] : (real)0;
            ghr[last + i] = 0;
        }
        for (int64_t t = steps - 2; t >= 0; --t) {
            const real* ht = hr + t * ld; const real* st = sr + t * ld; const real* vt = vr + t * ld;
            real* ght = ghr + t * ld;
            /* one pass per step (each element's operations as in three separate loops) */
            const real* gvt = gvr ? gvr + t * ld : 0;
            const real* gst = gsr ? gsr + t * ld : 0;
            for (int64_t i = 0; i < n; ++i) {
                real sg = SIGMOID(slope * (vt[i] - vth));
                real d = slope * sg * ((real)1 - sg);
                real keep = (real)1 - st[i], l = lv[i];
                ght[i] = keep * l;
                real nl = alpha * keep * l + d * ls[i];
                if (gvt) nl = nl + gvt[i];
                real nls = -(alpha * vt[i] + ht[i]) * l;
                if (gst) nls += gst[i];
                lv[i] = nl;
                ls[i] = nls;
            }
        }
    }
    FTZ_END
}

/* Leaky integrator: v[t+1] = alpha*v[t] + h[t], v[0] = 0. */
static inline INLINE void SUF(li_fwd_tile)(const real* R h, real* R v, int64_t rows, int64_t steps, int64_t n, int64_t ld,
                             real alpha) {
    for (int64_t r = 0; r < rows; ++r) {
        const real* hr = h + r * steps * ld; real* vr = v + r * steps * ld;
        for (int64_t i = 0; i < n; ++i) vr[i] = 0;
        for (int64_t t = 0; t + 1 < steps; ++t) {
            const real* ht = hr + t * ld; const real* vt = vr + t * ld; real* vn = vr + (t + 1) * ld;
            for (int64_t i = 0; i < n; ++i) {
                real a = alpha * vt[i];
                vn[i] = a + ht[i];
            }
        }
    }
}

/* Its adjoint: gh[T-1] = 0, gh[T-2] = gv[T-1], gh[t] = gv[t+1] + alpha gh[t+1]. */
static inline INLINE void SUF(li_bwd_tile)(const real* R gv, real* R gh, int64_t rows, int64_t steps, int64_t n, int64_t ld,
                             real alpha) {
    FTZ_BEGIN
    for (int64_t r = 0; r < rows; ++r) {
        const real* gr = gv + r * steps * ld; real* hr = gh + r * steps * ld;
        int64_t last = (steps - 1) * ld;
        for (int64_t i = 0; i < n; ++i) hr[last + i] = 0;
        if (steps > 1) for (int64_t i = 0; i < n; ++i) hr[last - ld + i] = gr[last + i];
        for (int64_t t = steps - 3; t >= 0; --t) {
            const real* gn = gr + (t + 1) * ld; const real* hn = hr + (t + 1) * ld; real* ht = hr + t * ld;
            for (int64_t i = 0; i < n; ++i) ht[i] = gn[i] + alpha * hn[i];
        }
    }
    FTZ_END
}

/* The standard LIF (snnsim.functional.lif, neuron="standard"): u[t] = alpha*v[t-1] + h[t],
 * s[t] = u[t] > v_th, v[t] = u[t] (1 - s[t]), v[-1] = 0: records after each input. */
static inline INLINE void SUF(slif_fwd_tile)(const real* R h, real* R s, real* R v, int64_t rows, int64_t steps, int64_t n,
                               int64_t ld, real alpha, real vth) {
    for (int64_t r = 0; r < rows; ++r) {
        const real* hr = h + r * steps * ld;
        real* sr = s + r * steps * ld;
        real* vr = v + r * steps * ld;
        for (int64_t t = 0; t < steps; ++t) {
            const real* ht = hr + t * ld; const real* vp = vr + (t - 1) * ld;
            real* st = sr + t * ld; real* vt = vr + t * ld;
            for (int64_t i = 0; i < n; ++i) {
                real u = t ? alpha * vp[i] : (real)0;
                u = u + ht[i];
                real spike = u > vth ? (real)1 : (real)0;
                st[i] = spike;
                vt[i] = u * ((real)1 - spike);
            }
        }
    }
}

/* Its adjoint, t = T-1 .. 0, with u_t recomputed and g_t = slope * sig * (1 - sig),
 * sig = sigmoid(slope*(u_t - vth)):
 *   lv = gv[t] + alpha du_{t+1},   du_t = lv ((1 - s_t) - u_t g_t) + gs[t] g_t,   gh[t] = du_t.
 * work: n scratch values (du_{t+1}). */
static inline INLINE void SUF(slif_bwd_tile)(const real* R h, const real* R s, const real* R v, const real* R gs,
                               const real* R gv, real* R gh, real* R work, int64_t rows, int64_t steps, int64_t n,
                               int64_t ld, real alpha, real vth, real slope) {
    FTZ_BEGIN
    real* R du = work;
    for (int64_t r = 0; r < rows; ++r) {
        int64_t off = r * steps * ld;
        const real* hr = h + off; const real* sr = s + off; const real* vr = v + off;
        const real* gsr = gs ? gs + off : 0; const real* gvr = gv ? gv + off : 0;
        real* ghr = gh + off;
        for (int64_t i = 0; i < n; ++i) du[i] = 0;
        for (int64_t t = steps - 1; t >= 0; --t) {
            const real* ht = hr + t * ld; const real* st = sr + t * ld; const real* vp = vr + (t - 1) * ld;
            real* ght = ghr + t * ld;
            for (int64_t i = 0; i < n; ++i) {
                real u = t ? alpha * vp[i] : (real)0;
                u = u + ht[i];
                real sg = SIGMOID(slope * (u - vth));
                real g = slope * sg * ((real)1 - sg);
                real lv = alpha * du[i];
                if (gvr) lv = lv + gvr[t * ld + i];
                real d = lv * (((real)1 - st[i]) - u * g);
                if (gsr) d = d + gsr[t * ld + i] * g;
                ght[i] = d;
                du[i] = d;
            }
        }
    }
    FTZ_END
}

/* The standard leaky integrator: v[t] = alpha*v[t-1] + h[t], v[-1] = 0. */
static inline INLINE void SUF(sli_fwd_tile)(const real* R h, real* R v, int64_t rows, int64_t steps, int64_t n, int64_t ld,
                              real alpha) {
    for (int64_t r = 0; r < rows; ++r) {
        const real* hr = h + r * steps * ld; real* vr = v + r * steps * ld;
        for (int64_t i = 0; i < n; ++i) vr[i] = hr[i];
        for (int64_t t = 1; t < steps; ++t) {
            const real* ht = hr + t * ld; const real* vp = vr + (t - 1) * ld; real* vt = vr + t * ld;
            for (int64_t i = 0; i < n; ++i) {
                real a = alpha * vp[i];
                vt[i] = a + ht[i];
            }
        }
    }
}

/* Its adjoint: gh[T-1] = gv[T-1], gh[t] = gv[t] + alpha gh[t+1]. */
static inline INLINE void SUF(sli_bwd_tile)(const real* R gv, real* R gh, int64_t rows, int64_t steps, int64_t n, int64_t ld,
                              real alpha) {
    FTZ_BEGIN
    for (int64_t r = 0; r < rows; ++r) {
        const real* gr = gv + r * steps * ld; real* hr = gh + r * steps * ld;
        int64_t last = (steps - 1) * ld;
        for (int64_t i = 0; i < n; ++i) hr[last + i] = gr[last + i];
        for (int64_t t = steps - 2; t >= 0; --t) {
            const real* gt = gr + t * ld; const real* hn = hr + (t + 1) * ld; real* ht = hr + t * ld;
            for (int64_t i = 0; i < n; ++i) ht[i] = gt[i] + alpha * hn[i];
        }
    }
    FTZ_END
}

/* The standard LIF with an adaptive threshold (snnsim.functional.cell, adaptation only):
 *   u[t] = alpha*v[t-1] + h[t],  z[t] = (u[t] - vth) - rho*A[t-1],  s[t] = z[t] > 0,
 *   A[t] = rho*A[t-1] + beta*s[t],  v[t] = u[t] (1 - s[t]),  v[-1] = A[-1] = 0;
 * a holds A after each step. */
static void SUF(salif_fwd_tile)(const real* R h, real* R s, real* R v, real* R a, int64_t rows, int64_t steps,
                                int64_t n, int64_t ld, real alpha, real vth, real rho, real beta) {
    for (int64_t r = 0; r < rows; ++r) {
        int64_t off = r * steps * ld;
        for (int64_t t = 0; t < steps; ++t) {
            const real* ht = h + off + t * ld; const real* vp = v + off + (t - 1) * ld;
            const real* ap = a + off + (t - 1) * ld;
            real* st = s + off + t * ld; real* vt = v + off + t * ld; real* at = a + off + t * ld;
            for (int64_t i = 0; i < n; ++i) {
                real u = t ? alpha * vp[i] : (real)0;
                u = u + ht[i];
                real adapt = t ? ap[i] : (real)0;
                real z = u - vth;
                real decayed = rho * adapt;
                z = z - decayed;
                real spike = z > 0 ? (real)1 : (real)0;
                real jump = beta * spike;
                st[i] = spike;
                at[i] = decayed + jump;
                vt[i] = u * ((real)1 - spike);
            }
        }
    }
}

/* Its adjoint, t = T-1 .. 0, with u_t, z_t recomputed, g_t = slope * sig * (1 - sig),
 * sig = sigmoid(slope * z_t), and the adjoints of the next step carried (du, dz, la = dL/dA_{t+1}):
 *   la_t = rho (la_{t+1} - dz_{t+1}),  lv = gv[t] + alpha du_{t+1},
 *   dz_t = (gs[t] - u_t lv + beta la_t) g_t,  du_t = lv (1 - s_t) + dz_t,  gh[t] = du_t.
 * work: 3 n scratch values. */
static void SUF(salif_bwd_tile)(const real* R h, const real* R s, const real* R v, const real* R a,
                                const real* R gs, const real* R gv, real* R gh, real* R work, int64_t rows,
                                int64_t steps, int64_t n, int64_t ld, real alpha, real vth, real slope, real rho,
                                real beta) {
    FTZ_BEGIN
    real* R du = work;
    real* R dz = work + n;
    real* R la = work + 2 * n;
    for (int64_t r = 0; r < rows; ++r) {
        int64_t off = r * steps * ld;
        for (int64_t i = 0; i < n; ++i) { du[i] = 0; dz[i] = 0; la[i] = 0; }
        for (int64_t t = steps - 1; t >= 0; --t) {
            const real* ht = h + off + t * ld; const real* st = s + off + t * ld;
            const real* vp = v + off + (t - 1) * ld; const real* ap = a + off + (t - 1) * ld;
            real* ght = gh + off + t * ld;
            for (int64_t i = 0; i < n; ++i) {
                real u = t ? alpha * vp[i] : (real)0;
                u = u + ht[i];
                real z = (u - vth) - rho * (t ? ap[i] : (real)0);
                real sg = SIGMOID(slope * z);
                real g = slope * sg * ((real)1 - sg);
                real lA = rho * (la[i] - dz[i]);
                real lv = alpha * du[i];
                if (gv) lv = lv + gv[off + t * ld + i];
                real ls = beta * lA - u * lv;
                if (gs) ls = ls + gs[off + t * ld + i];
                real d = ls * g;
                real dn = lv * ((real)1 - st[i]) + d;
                ght[i] = dn;
                du[i] = dn;
                dz[i] = d;
                la[i] = lA;
            }
        }
    }
    FTZ_END
}

/* The adaptive layer over (rows, steps, n), split into nth tiles (see tile_of). */
void SUF(alif_fwd)(const real* R h, real* R s, real* R v, real* R a, int64_t rows, int64_t steps, int64_t n,
                   real alpha, real vth, real rho, real beta, int64_t nth) {
    #pragma omp parallel for num_threads(nth) schedule(static, 1)
    for (int64_t k = 0; k < nth; ++k) {
        int64_t r0, r1, c0, c1;
        tile_of(k, nth, rows, n, &r0, &r1, &c0, &c1);
        int64_t o = r0 * steps * n + c0;
        if (r1 > r0 && c1 > c0)
            SUF(salif_fwd_tile)(h + o, s + o, v + o, a + o, r1 - r0, steps, c1 - c0, n, alpha, vth, rho, beta);
    }
}

void SUF(alif_bwd)(const real* R h, const real* R s, const real* R v, const real* R a, const real* R gs,
                   const real* R gv, real* R gh, int64_t rows, int64_t steps, int64_t n, real alpha, real vth,
                   real slope, real rho, real beta, int64_t nth) {
    #pragma omp parallel for num_threads(nth) schedule(static, 1)
    for (int64_t k = 0; k < nth; ++k) {
        int64_t r0, r1, c0, c1;
        tile_of(k, nth, rows, n, &r0, &r1, &c0, &c1);
        int64_t o = r0 * steps * n + c0;
        if (r1 > r0 && c1 > c0) {
            real* work = malloc(3 * (c1 - c0) * sizeof(real));
            SUF(salif_bwd_tile)(h + o, s + o, v + o, a + o, gs ? gs + o : 0, gv ? gv + o : 0, gh + o, work, r1 - r0,
                                steps, c1 - c0, n, alpha, vth, slope, rho, beta);
            free(work);
        }
    }
}

/* The layers over (rows, steps, n), split into nth tiles (see tile_of); standard != 0: the
 * standard neuron's step order (slif / sli above). */
void SUF(lif_fwd)(const real* R h, real* R s, real* R v, int64_t rows, int64_t steps, int64_t n, real alpha,
                  real vth, int64_t standard, int64_t nth) {
    #pragma omp parallel for num_threads(nth) schedule(static, 1)
    for (int64_t k = 0; k < nth; ++k) {
        int64_t r0, r1, c0, c1;
        tile_of(k, nth, rows, n, &r0, &r1, &c0, &c1);
        int64_t o = r0 * steps * n + c0;
        if (r1 > r0 && c1 > c0)
            (standard ? SUF(slif_fwd_tile) : SUF(lif_fwd_tile))(h + o, s + o, v + o, r1 - r0, steps, c1 - c0, n,
                                                                  alpha, vth);
    }
}

void SUF(lif_bwd)(const real* R h, const real* R s, const real* R v, const real* R gs, const real* R gv,
                  real* R gh, int64_t rows, int64_t steps, int64_t n, real alpha, real vth, real slope,
                  int64_t standard, int64_t nth) {
    #pragma omp parallel for num_threads(nth) schedule(static, 1)
    for (int64_t k = 0; k < nth; ++k) {
        int64_t r0, r1, c0, c1;
        tile_of(k, nth, rows, n, &r0, &r1, &c0, &c1);
        int64_t o = r0 * steps * n + c0;
        if (r1 > r0 && c1 > c0) {
            real* work = malloc(3 * (c1 - c0) * sizeof(real));
            (standard ? SUF(slif_bwd_tile) : SUF(lif_bwd_tile))(h + o, s + o, v + o, gs ? gs + o : 0,
                                                                  gv ? gv + o : 0, gh + o, work, r1 - r0, steps,
                                                                  c1 - c0, n, alpha, vth, slope);
            free(work);
        }
    }
}

void SUF(li_fwd)(const real* R h, real* R v, int64_t rows, int64_t steps, int64_t n, real alpha, int64_t standard,
                 int64_t nth) {
    #pragma omp parallel for num_threads(nth) schedule(static, 1)
    for (int64_t k = 0; k < nth; ++k) {
        int64_t r0, r1, c0, c1;
        tile_of(k, nth, rows, n, &r0, &r1, &c0, &c1);
        int64_t o = r0 * steps * n + c0;
        if (r1 > r0 && c1 > c0)
            (standard ? SUF(sli_fwd_tile) : SUF(li_fwd_tile))(h + o, v + o, r1 - r0, steps, c1 - c0, n, alpha);
    }
}

void SUF(li_bwd)(const real* R gv, real* R gh, int64_t rows, int64_t steps, int64_t n, real alpha, int64_t standard,
                 int64_t nth) {
    #pragma omp parallel for num_threads(nth) schedule(static, 1)
    for (int64_t k = 0; k < nth; ++k) {
        int64_t r0, r1, c0, c1;
        tile_of(k, nth, rows, n, &r0, &r1, &c0, &c1);
        int64_t o = r0 * steps * n + c0;
        if (r1 > r0 && c1 > c0)
            (standard ? SUF(sli_bwd_tile) : SUF(li_bwd_tile))(gv + o, gh + o, r1 - r0, steps, c1 - c0, n, alpha);
    }
}

/* Sparse input projection of binary inputs given as lists of active inputs.
 *
 * Forward (CSR): rows holds row ids into ptr, in sample-major order (row i = sample
 * i / steps, step i % steps); a call computes rows first .. first + nrows - 1 of it; ptr[q]..ptr[q+1] index idx (the active inputs of row q,
 * increasing). wp: (C, np) weights with columns padded to np (a multiple of four 32-byte
 * vectors). h[row i] = sum over active c of wp[c] (sequential in increasing c), written to row
 * i of h (n columns), or with batch > 0 to row (i % steps) * batch + i / steps (time-major). */
static void SUF(proj_fwd_tile)(const int64_t* R rows, int64_t first, int64_t nrows, const int64_t* R ptr,
                               const int16_t* R idx, const real* R wp, int64_t n, int64_t np, real* R h,
                               int64_t steps, int64_t batch) {
    enum { L = 32 / sizeof(real) };
    typedef real vec __attribute__((vector_size(32)));
    real out[2][np];
    for (int64_t i = 0; i < nrows; i += 2) {
        int two = i + 1 < nrows;  /* two rows at once: eight independent accumulator chains */
        int64_t q0 = rows[first + i], q1 = two ? rows[first + i + 1] : q0;
        int64_t k0 = ptr[q0], e0 = ptr[q0 + 1], k1 = ptr[q1], e1 = two ? ptr[q1 + 1] : k1;
        for (int64_t b = 0; b < np; b += 4 * L) {
            vec a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, c0 = {0}, c1 = {0}, c2 = {0}, c3 = {0}, x;
            int64_t j0 = k0, j1 = k1;
            for (; j0 < e0 && j1 < e1; ++j0, ++j1) {
                const real* u = wp + (int64_t)idx[j0] * np + b;
                const real* w = wp + (int64_t)idx[j1] * np + b;
                memcpy(&x, u, 32); a0 += x; memcpy(&x, w, 32); c0 += x;
                memcpy(&x, u + L, 32); a1 += x; memcpy(&x, w + L, 32); c1 += x;
                memcpy(&x, u + 2 * L, 32); a2 += x; memcpy(&x, w + 2 * L, 32); c2 += x;
                memcpy(&x, u + 3 * L, 32); a3 += x; memcpy(&x, w + 3 * L, 32); c3 += x;
            }
            for (; j0 < e0; ++j0) {
                const real* u = wp + (int64_t)idx[j0] * np + b;
                memcpy(&x, u, 32); a0 += x; memcpy(&x, u + L, 32); a1 += x;
                memcpy(&x, u + 2 * L, 32); a2 += x; memcpy(&x, u + 3 * L, 32); a3 += x;
            }
            for (; j1 < e1; ++j1) {
                const real* w = wp + (int64_t)idx[j1] * np + b;
                memcpy(&x, w, 32); c0 += x; memcpy(&x, w + L, 32); c1 += x;
                memcpy(&x, w + 2 * L, 32); c2 += x; memcpy(&x, w + 3 * L, 32); c3 += x;
            }
            memcpy(out[0] + b, &a0, 32); memcpy(out[0] + b + L, &a1, 32);
            memcpy(out[0] + b + 2 * L, &a2, 32); memcpy(out[0] + b + 3 * L, &a3, 32);
            memcpy(out[1] + b, &c0, 32); memcpy(out[1] + b + L, &c1, 32);
            memcpy(out[1] + b + 2 * L, &c2, 32); memcpy(out[1] + b + 3 * L, &c3, 32);
        }
        for (int u = 0; u <= two; ++u) {
            int64_t r = first + i + u, dst = batch > 0 ? (r % steps) * batch + r / steps : r;
            memcpy(h + dst * n, out[u], n * sizeof(real));
        }
    }
}

/* Weight gradient (per-sample CSC): gwp[c] += sum over the batch's samples b and the steps t at
 * which input c of sample b is active of gh[row (b, t)]. samples: nb sample ids; the steps of
 * (sample s, input c) are step[base[s] + off[s*(C+1) + c] .. base[s] + off[s*(C+1) + c + 1]).
 * gh rows: sample-major (b*steps + t), or time-major (t*nb + b) when time_major != 0.
 * Only inputs c0 <= c < c1 (callers split the inputs over threads; each input's sum keeps its order).
 * gwp: (C, np), zeroed by the caller. Per sample, its gradient rows are first copied into a
 * padded scratch block, so that every load below is from L1 and no store is in the inner loop. */
static void SUF(proj_bwd_tile)(const int64_t* R samples, int64_t nb, const int64_t* R base,
                               const int32_t* R off, const int16_t* R step, int64_t C, const real* R gh, int64_t n,
                               int64_t np, int64_t steps, int64_t time_major, real* R gwp, int64_t c0, int64_t c1) {
    FTZ_BEGIN
    enum { L = 32 / sizeof(real) };
    typedef real vec __attribute__((vector_size(32)));
    real* g = malloc(steps * np * sizeof(real));
    memset(g, 0, steps * np * sizeof(real));
    for (int64_t b = 0; b < nb; ++b) {
        for (int64_t t = 0; t < steps; ++t) {
            int64_t row = time_major ? t * nb + b : b * steps + t;
            memcpy(g + t * np, gh + row * n, n * sizeof(real));
        }
        int64_t s = samples[b];
        const int16_t* st = step + base[s];
        const int32_t* o = off + s * (C + 1);
        for (int64_t c = c0; c < c1; ++c) {
            for (int64_t blk = 0; blk < np; blk += 4 * L) {
                vec a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, x;
                for (int32_t k = o[c]; k < o[c + 1]; ++k) {
                    const real* u = g + (int64_t)st[k] * np + blk;
                    memcpy(&x, u, 32); a0 += x; memcpy(&x, u + L, 32); a1 += x;
                    memcpy(&x, u + 2 * L, 32); a2 += x; memcpy(&x, u + 3 * L, 32); a3 += x;
                }
                real* w = gwp + c * np + blk;
                memcpy(&x, w, 32); x += a0; memcpy(w, &x, 32);
                memcpy(&x, w + L, 32); x += a1; memcpy(w + L, &x, 32);
                memcpy(&x, w + 2 * L, 32); x += a2; memcpy(w + 2 * L, &x, 32);
                memcpy(&x, w + 3 * L, 32); x += a3; memcpy(w + 3 * L, &x, 32);
            }
        }
    }
    free(g);
    FTZ_END
}

/* The projection of nrows rows (forward: rows split into nth spans) and its weight gradient
 * (inputs split into nth spans). */
void SUF(proj_fwd)(const int64_t* R rows, int64_t nrows, const int64_t* R ptr, const int16_t* R idx,
                   const real* R wp, int64_t n, int64_t np, real* R h, int64_t steps, int64_t batch, int64_t nth) {
    #pragma omp parallel for num_threads(nth) schedule(static, 1)
    for (int64_t k = 0; k < nth; ++k) {
        int64_t a, b;
        span_of(k, nth, nrows, 2, &a, &b);
        if (b > a) SUF(proj_fwd_tile)(rows, a, b - a, ptr, idx, wp, n, np, h, steps, batch);
    }
}

void SUF(proj_bwd)(const int64_t* R samples, int64_t nb, const int64_t* R base, const int32_t* R off,
                   const int16_t* R step, int64_t C, const real* R gh, int64_t n, int64_t np, int64_t steps,
                   int64_t time_major, real* R gwp, int64_t nth) {
    #pragma omp parallel for num_threads(nth) schedule(static, 1)
    for (int64_t k = 0; k < nth; ++k) {
        int64_t a, b;
        span_of(k, nth, C, 1, &a, &b);
        if (b > a) SUF(proj_bwd_tile)(samples, nb, base, off, step, C, gh, n, np, steps, time_major, gwp, a, b);
    }
}

/* Products of 0/1 spikes with a weight matrix, row r (a model) at a time, fixed summation orders:
 * s (rows, steps, batch * H) time-major spikes, w (rows, H, O), h / gh (rows, steps, batch * O).
 * Forward: h[r, t, b, k] = sum over j with s[r, t, b, j] != 0 of w[r, j, k] (j increasing).
 * Backward: gs[r, t, b, j] = sum_k gh[r, t, b, k] w[r, j, k] (k increasing, from 0);
 * gw[r, j, k] = sum over (t, b) with s[r, t, b, j] != 0 of gh[r, t, b, k] (t, then b, increasing). */
void SUF(spike_mm_fwd)(const real* R s, const real* R w, real* R h, int64_t rows, int64_t steps, int64_t batch,
                       int64_t H, int64_t O, int64_t nth) {
    int64_t per_row = steps * batch, total = rows * per_row;  /* (row, step, sample) triples, split into nth spans */
    #pragma omp parallel for num_threads(nth) schedule(static, 1)
    for (int64_t k = 0; k < nth; ++k) {
        int64_t a, b;
        span_of(k, nth, total, 1, &a, &b);
        int32_t* active = malloc((H + 1) * sizeof(int32_t));
        for (int64_t r = a / per_row; r * per_row < b; ++r) {
            const real* wr = w + r * H * O;
            int64_t q0 = r * per_row > a ? r * per_row : a, q1 = (r + 1) * per_row < b ? (r + 1) * per_row : b;
            for (int64_t q = q0; q < q1; ++q) {
                const real* sq = s + q * H;
                real* hq = h + q * O;
                /* the spikes are sparse: list the active neurons (branch-free), then add their rows */
                int64_t na = 0;
                for (int64_t j = 0; j < H; ++j) { active[na] = (int32_t)j; na += sq[j] != 0; }
                for (int64_t o = 0; o < O; ++o) hq[o] = 0;
                for (int64_t i = 0; i < na; ++i) {
                    const real* wj = wr + (int64_t)active[i] * O;
                    for (int64_t o = 0; o < O; ++o) hq[o] += wj[o];
                }
            }
        }
        free(active);
    }
}

void SUF(spike_mm_bwd)(const real* R s, const real* R w, const real* R gh, real* R gs, real* R gw, int64_t rows,
                       int64_t steps, int64_t batch, int64_t H, int64_t O, int64_t nth) {
    int64_t per_row = steps * batch, total = rows * per_row;
    /* gs: (row, step, sample) triples split into nth spans; sums over o along j, with w transposed */
    #pragma omp parallel for num_threads(nth) schedule(static, 1)
    for (int64_t k = 0; k < nth; ++k) {
        FTZ_BEGIN
        int64_t a, b;
        span_of(k, nth, total, 1, &a, &b);
        real* wt = malloc(H * O * sizeof(real));
        for (int64_t r = a / per_row; r * per_row < b; ++r) {
            const real* wr = w + r * H * O;
            for (int64_t j = 0; j < H; ++j)
                for (int64_t o = 0; o < O; ++o) wt[o * H + j] = wr[j * O + o];
            int64_t q0 = r * per_row > a ? r * per_row : a, q1 = (r + 1) * per_row < b ? (r + 1) * per_row : b;
            for (int64_t q = q0; q < q1; ++q) {
                const real* gq = gh + q * O;
                real* gsq = gs + q * H;
                for (int64_t j = 0; j < H; ++j) gsq[j] = 0;
                for (int64_t o = 0; o < O; ++o) {
                    const real g = gq[o];
                    const real* wo = wt + o * H;
                    for (int64_t j = 0; j < H; ++j) gsq[j] += g * wo[j];
                }
            }
        }
        free(wt);
        FTZ_END
    }
    /* gw: the hidden neurons j split into nth spans; every thread reads its part of each row of
     * spikes once, lists its active neurons (branch-free), and every (j, o) sums over the triples
     * q in increasing order */
    #pragma omp parallel for num_threads(nth) schedule(static, 1)
    for (int64_t k = 0; k < nth; ++k) {
        FTZ_BEGIN
        int64_t a, b;
        span_of(k, nth, H, 1, &a, &b);
        int32_t* active = malloc((H + 1) * sizeof(int32_t));
        for (int64_t r = 0; r < rows; ++r) {
            real* gwr = gw + r * H * O;
            for (int64_t i = a * O; i < b * O; ++i) gwr[i] = 0;
            for (int64_t q = r * per_row; q < (r + 1) * per_row; ++q) {
                const real* sq = s + q * H;
                const real* gq = gh + q * O;
                int64_t na = 0;
                for (int64_t j = a; j < b; ++j) { active[na] = (int32_t)j; na += sq[j] != 0; }
                for (int64_t i = 0; i < na; ++i) {
                    real* gwj = gwr + (int64_t)active[i] * O;
                    for (int64_t o = 0; o < O; ++o) gwj[o] += gq[o];
                }
            }
        }
        free(active);
        FTZ_END
    }
}

/* ---------------------------------------------------------- the IPD network, one sample at a time */

/* A LIF layer's spikes (steps, n) recomputed from its records h, v with the forward's operations:
 * notebook s[t+1] = v[t] > vth, s[0] = 0; standard s[t] = (alpha v[t-1] + h[t]) > vth. */
static inline INLINE void SUF(spikes_of)(const real* R h, const real* R v, real* R s, int64_t steps, int64_t n, real alpha,
                           real vth, int64_t standard) {
    for (int64_t t = 0; t < steps; ++t) {
        real* st = s + t * n;
        if (standard) {
            for (int64_t i = 0; i < n; ++i) {
                real u = t ? alpha * v[(t - 1) * n + i] : (real)0;
                u = u + h[t * n + i];
                st[i] = u > vth ? (real)1 : (real)0;
            }
        } else if (t == 0) {
            for (int64_t i = 0; i < n; ++i) st[i] = 0;
        } else {
            for (int64_t i = 0; i < n; ++i) st[i] = v[(t - 1) * n + i] > vth ? (real)1 : (real)0;
        }
    }
}

/* The indices j < n of the nonzero values of x, increasing, into active; returns their count.
 * With AVX, n <= 64: vector compares and a bit mask (x holds whole vectors up to n rounded up). */
static inline INLINE int64_t SUF(list_active)(const real* R x, int64_t n, int32_t* R active) {
    int64_t na = 0;
#if defined(__AVX__)
    if (n <= 64) {
        uint64_t m = 0;
        int64_t i = 0;
        if (sizeof(real) == 4) {
            for (; i + 8 <= n; i += 8)
                m |= (uint64_t)(uint32_t)_mm256_movemask_ps(
                         _mm256_cmp_ps(_mm256_loadu_ps((const float*)x + i), _mm256_setzero_ps(), _CMP_NEQ_UQ)) << i;
        } else {
            for (; i + 4 <= n; i += 4)
                m |= (uint64_t)(uint32_t)_mm256_movemask_pd(
                         _mm256_cmp_pd(_mm256_loadu_pd((const double*)x + i), _mm256_setzero_pd(), _CMP_NEQ_UQ)) << i;
        }
        for (; i < n; ++i) m |= (uint64_t)(x[i] != 0) << i;
        while (m) { active[na++] = (int32_t)__builtin_ctzll(m); m &= m - 1; }
        return na;
    }
#endif
    for (int64_t j = 0; j < n; ++j) { active[na] = (int32_t)j; na += x[j] != 0; }
    return na;
}

/* The per-sample helpers below work on blocks of 128 bytes (32 floats, 16 doubles) as two
 * 64-byte vectors: one register each with AVX-512, two with AVX2 (the compiler splits them).
 * Every lane's sum keeps its order, so the numbers do not depend on the vector width. */

typedef real SUF(wide) __attribute__((vector_size(64)));

/* One 128-byte block (columns blk ..) of four sums of rows: a[r] = sum over j in [k[r], e[r]),
 * increasing, of the row base + list[j] * np; the four lists at once (eight independent
 * accumulator chains), then each list's remaining entries. Each sum keeps its order, so the
 * numbers are those of one list at a time. np: a multiple of 128 bytes (a constant where inlined). */
static inline INLINE void SUF(sum_rows_4)(const int64_t* R k, const int64_t* R e, const int16_t* R list,
                                          const real* R base, const int64_t np, int64_t blk,
                                          SUF(wide) a[4][2]) {
    enum { W = 64 / sizeof(real) };
    for (int r = 0; r < 4; ++r) { a[r][0] = (SUF(wide)){0}; a[r][1] = (SUF(wide)){0}; }
    int64_t n = e[0] - k[0];
    for (int r = 1; r < 4; ++r) if (e[r] - k[r] < n) n = e[r] - k[r];
    SUF(wide) x;
    for (int64_t i = 0; i < n; ++i) {
        for (int r = 0; r < 4; ++r) {
            const real* u = base + (int64_t)list[k[r] + i] * np + blk;
            memcpy(&x, u, 64); a[r][0] += x; memcpy(&x, u + W, 64); a[r][1] += x;
        }
    }
    for (int r = 0; r < 4; ++r) {
        for (int64_t j = k[r] + n; j < e[r]; ++j) {
            const real* u = base + (int64_t)list[j] * np + blk;
            memcpy(&x, u, 64); a[r][0] += x; memcpy(&x, u + W, 64); a[r][1] += x;
        }
    }
}

/* One sample's input currents into h (steps, np): row t is the sum, in increasing c, of the rows
 * wp[c] of the inputs c active in row q0 + t of the CSR (as proj_fwd_tile); four steps at once. */
static inline INLINE void SUF(sample_currents)(const int64_t* R ptr, const int16_t* R list, int64_t q0,
                                               int64_t steps, const real* R base, const int64_t np, real* R h) {
    enum { W = 64 / sizeof(real) };
    for (int64_t t = 0; t < steps; t += 4) {
        int rows = steps - t < 4 ? (int)(steps - t) : 4;
        int64_t k[4], e[4];
        for (int r = 0; r < 4; ++r) {
            k[r] = r < rows ? ptr[q0 + t + r] : 0;
            e[r] = r < rows ? ptr[q0 + t + r + 1] : 0;
        }
        for (int64_t blk = 0; blk < np; blk += 2 * W) {
            SUF(wide) a[4][2];
            SUF(sum_rows_4)(k, e, list, base, np, blk, a);
            for (int r = 0; r < rows; ++r) {
                real* d = h + (t + r) * np + blk;
                memcpy(d, &a[r][0], 64); memcpy(d + W, &a[r][1], 64);
            }
        }
    }
}

/* One sample's input weight gradient added to gwp (C, np): for every input c, the rows of g
 * (steps, np) at the steps where c is active (list[o[c]] .. list[o[c+1]-1], increasing) summed
 * from zero, then added to row c (as proj_bwd_tile); four inputs at once. */
static inline INLINE void SUF(sample_weight_grad)(const int32_t* R o, const int16_t* R list, int64_t C,
                                                  const real* R base, const int64_t np, real* R gwp) {
    enum { W = 64 / sizeof(real) };
    for (int64_t c = 0; c < C; c += 4) {
        int rows = C - c < 4 ? (int)(C - c) : 4;
        int64_t k[4], e[4];
        for (int r = 0; r < 4; ++r) {
            k[r] = r < rows ? o[c + r] : 0;
            e[r] = r < rows ? o[c + r + 1] : 0;
        }
        for (int64_t blk = 0; blk < np; blk += 2 * W) {
            SUF(wide) a[4][2], y;
            SUF(sum_rows_4)(k, e, list, base, np, blk, a);
            for (int r = 0; r < rows; ++r) {
                real* d = gwp + (c + r) * np + blk;
                memcpy(&y, d, 64); y += a[r][0]; memcpy(d, &y, 64);
                memcpy(&y, d + W, 64); y += a[r][1]; memcpy(d + W, &y, 64);
            }
        }
    }
}

/* The hidden LIF layer of one sample, (steps, n) records, n == 32 compiled as a constant. */
static inline INLINE void SUF(hidden_fwd)(const real* R h, real* R s, real* R v, int64_t steps, int64_t n,
                                          real alpha, real vth, int64_t standard) {
    if (n == 32 && standard) SUF(slif_fwd_tile)(h, s, v, 1, steps, 32, 32, alpha, vth);
    else if (n == 32) SUF(lif_fwd_tile)(h, s, v, 1, steps, 32, 32, alpha, vth);
    else (standard ? SUF(slif_fwd_tile) : SUF(lif_fwd_tile))(h, s, v, 1, steps, n, n, alpha, vth);
}

/* gs[t] = w2 gh[t] for every step: gs[t, j] = sum over o < O, increasing, of gh[t, o] wt[o, j]
 * (from zero; as spike_mm_bwd), in registers. wt (O, np), gh (steps, ldg), gs (steps, np). */
static inline INLINE void SUF(sample_spike_grad)(const real* R gh, int64_t ldg, const real* R wt, int64_t O,
                                                 int64_t steps, const int64_t np, real* R gs) {
    enum { W = 64 / sizeof(real) };
    typedef real wide __attribute__((vector_size(64)));
    for (int64_t t = 0; t < steps; ++t) {
        const real* gq = gh + t * ldg;
        for (int64_t blk = 0; blk < np; blk += 2 * W) {
            wide a0 = {0}, a1 = {0}, x;
            for (int64_t o = 0; o < O; ++o) {
                const real g = gq[o];
                const real* w = wt + o * np + blk;
                memcpy(&x, w, 64); a0 += g * x; memcpy(&x, w + W, 64); a1 += g * x;
            }
            real* d = gs + t * np + blk;
            memcpy(d, &a0, 64); memcpy(d + W, &a1, 64);
        }
    }
}

/* The whole IPD network (input sums, hidden LIF, hidden spikes x w2, output LI or LIF) for each
 * (model, sample) in turn, with that sample's records (steps x 32 values per layer) in cache
 * instead of layer-wide arrays: the same operations in the same order as proj_fwd, lif_fwd,
 * spike_mm_fwd and li_fwd / lif_fwd, so the trace is bit-identical to theirs.
 * csr: per model the addresses of its data set's CSR (ptr, idx); index (M, B) sample ids;
 * w1p (M, C, Hp), w2p (M, Hp, Op) zero-padded (Hp a multiple of four 32-byte vectors).
 * trace (M, B, T, O): the output membranes, or spikes with spiking != 0. Records for the backward
 * pass when h1r != NULL: the hidden currents h1r (M, B, T, Hp), and with spiking h2r, v2r (M, B, T, Op).
 * Work is split into tiles of `chunk` samples of one model; counts (M * tiles per model) gets
 * each tile's hidden spike count. */
void SUF(net_fwd)(const int64_t* R csr, const int64_t* R index, const real* R w1p, const real* R w2p, int64_t M,
                  int64_t B, int64_t T, int64_t C, int64_t H, int64_t Hp, int64_t O, int64_t Op, real alpha,
                  real vth, int64_t standard, int64_t spiking, real* R trace, real* R h1r,
                  real* R h2r, real* R v2r, int64_t* R counts, int64_t chunk, int64_t nth) {
    enum { L = 32 / sizeof(real) };
    int64_t per = (B + chunk - 1) / chunk, tiles = M * per;
    #pragma omp parallel num_threads(nth)
    {
        real* buf = malloc((3 * T * Hp + 3 * T * Op) * sizeof(real));
        int32_t* active = malloc((H + 1) * sizeof(int32_t));
        #pragma omp for schedule(static)
        for (int64_t k = 0; k < tiles; ++k) {
            int64_t m = k / per, b0 = (k % per) * chunk, b1 = min_i64(B, b0 + chunk), count = 0;
            const int64_t* ptr = (const int64_t*)(intptr_t)csr[2 * m];
            const int16_t* idx = (const int16_t*)(intptr_t)csr[2 * m + 1];
            const real* w1 = w1p + m * C * Hp; const real* w2 = w2p + m * Hp * Op;
            for (int64_t b = b0; b < b1; ++b) {
                int64_t smp = index[m * B + b], rec = (m * B + b) * T;
                real* H1 = h1r ? h1r + rec * Hp : buf;
                real* V1 = buf + T * Hp;
                real* S1 = buf + 2 * T * Hp;
                real* H2 = h2r ? h2r + rec * Op : buf + 3 * T * Hp;
                real* V2 = v2r ? v2r + rec * Op : buf + 3 * T * Hp + T * Op;
                real* S2 = buf + 3 * T * Hp + 2 * T * Op;
                if (Hp == 4 * L) SUF(sample_currents)(ptr, idx, smp * T, T, w1, 4 * L, H1);
                else SUF(sample_currents)(ptr, idx, smp * T, T, w1, Hp, H1);
                SUF(hidden_fwd)(H1, S1, V1, T, Hp, alpha, vth, standard);
                for (int64_t t = 0; t < T; ++t) {
                    const real* st = S1 + t * Hp;
                    real* h2 = H2 + t * Op;
                    int64_t na = SUF(list_active)(st, H, active);
                    count += na;
                    for (int64_t o = 0; o < Op; ++o) h2[o] = 0;
                    for (int64_t i = 0; i < na; ++i) {
                        const real* wj = w2 + (int64_t)active[i] * Op;
                        for (int64_t o = 0; o < Op; ++o) h2[o] += wj[o];
                    }
                }
                if (spiking)
                    (standard ? SUF(slif_fwd_tile) : SUF(lif_fwd_tile))(H2, S2, V2, 1, T, Op, Op, alpha, vth);
                else
                    (standard ? SUF(sli_fwd_tile) : SUF(li_fwd_tile))(H2, V2, 1, T, Op, Op, alpha);
                const real* out = spiking ? S2 : V2;
                for (int64_t t = 0; t < T; ++t) memcpy(trace + (rec + t) * O, out + t * Op, O * sizeof(real));
            }
            counts[k] = count;
        }
        free(active); free(buf);
    }
}

/* Its gradient with respect to w1 and w2 for the trace's gradient gtrace (M, B, T, O), from the
 * records of net_fwd (the hidden membranes computed again from the currents h1r, with the
 * forward's operations): per sample, the same adjoints as li_bwd / lif_bwd, spike_mm_bwd, lif_bwd
 * and proj_bwd. Each tile of `chunk` samples sums its samples' weight gradients in sample order
 * into its own block of gw1t (tiles, C, Hp) and gw2t (tiles, Hp, Op); gw1 (M, C, Hp) and gw2
 * (M, Hp, Op) are then the sums of a model's tiles in tile order: the numbers depend on `chunk`,
 * never on nth. csc: per model the addresses of (base, off, step); w2t (M, O, Hp) is w2
 * transposed (zero-padded). */
void SUF(net_bwd)(const int64_t* R csc, const int64_t* R index, const real* R w2t, int64_t M, int64_t B, int64_t T,
                  int64_t C, int64_t H, int64_t Hp, int64_t O, int64_t Op, real alpha, real vth, real slope,
                  int64_t standard, int64_t spiking, const real* R gtrace, const real* R h1r,
                  const real* R h2r, const real* R v2r, real* R gw1t, real* R gw2t, real* R gw1, real* R gw2,
                  int64_t chunk, int64_t nth) {
    enum { L = 32 / sizeof(real) };
    int64_t per = (B + chunk - 1) / chunk, tiles = M * per;
    #pragma omp parallel num_threads(nth)
    {
        FTZ_BEGIN
        real* buf = malloc((4 * T * Hp + 3 * T * Op + 3 * (Hp > Op ? Hp : Op)) * sizeof(real));
        int32_t* active = malloc((H + 1) * sizeof(int32_t));
        real* S1 = buf; real* GS1 = buf + T * Hp; real* GH1 = buf + 2 * T * Hp; real* V1 = buf + 3 * T * Hp;
        real* G = buf + 4 * T * Hp; real* GH2 = G + T * Op; real* S2 = GH2 + T * Op;
        real* work = S2 + T * Op;
        #pragma omp for schedule(static)
        for (int64_t k = 0; k < tiles; ++k) {
            int64_t m = k / per, b0 = (k % per) * chunk, b1 = min_i64(B, b0 + chunk);
            const int64_t* base = (const int64_t*)(intptr_t)csc[3 * m];
            const int32_t* off = (const int32_t*)(intptr_t)csc[3 * m + 1];
            const int16_t* step = (const int16_t*)(intptr_t)csc[3 * m + 2];
            const real* wt = w2t + m * O * Hp;
            real* g1 = gw1t + k * C * Hp; real* g2 = gw2t + k * Hp * Op;
            memset(g1, 0, C * Hp * sizeof(real));
            memset(g2, 0, Hp * Op * sizeof(real));
            for (int64_t b = b0; b < b1; ++b) {
                int64_t smp = index[m * B + b], rec = (m * B + b) * T;
                const real* H1 = h1r + rec * Hp;
                for (int64_t t = 0; t < T; ++t) {
                    real* gt = G + t * Op;
                    memcpy(gt, gtrace + (rec + t) * O, O * sizeof(real));
                    for (int64_t o = O; o < Op; ++o) gt[o] = 0;
                }
                if (spiking) {
                    const real* H2 = h2r + rec * Op; const real* V2 = v2r + rec * Op;
                    SUF(spikes_of)(H2, V2, S2, T, Op, alpha, vth, standard);
                    (standard ? SUF(slif_bwd_tile) : SUF(lif_bwd_tile))(H2, S2, V2, G, 0, GH2, work, 1, T, Op, Op,
                                                                          alpha, vth, slope);
                } else {
                    (standard ? SUF(sli_bwd_tile) : SUF(li_bwd_tile))(G, GH2, 1, T, Op, Op, alpha);
                }
                /* the hidden layer's forward pass again, from its currents (the same operations) */
                SUF(hidden_fwd)(H1, S1, V1, T, Hp, alpha, vth, standard);
                if (Hp == 4 * L) SUF(sample_spike_grad)(GH2, Op, wt, O, T, 4 * L, GS1);
                else SUF(sample_spike_grad)(GH2, Op, wt, O, T, Hp, GS1);
                for (int64_t t = 0; t < T; ++t) {
                    const real* gq = GH2 + t * Op;
                    const real* st = S1 + t * Hp;
                    int64_t na = SUF(list_active)(st, H, active);
                    for (int64_t i = 0; i < na; ++i) {
                        real* gwj = g2 + (int64_t)active[i] * Op;
                        for (int64_t o = 0; o < Op; ++o) gwj[o] += gq[o];
                    }
                }
                if (Hp == 32 && standard) SUF(slif_bwd_tile)(H1, S1, V1, GS1, 0, GH1, work, 1, T, 32, 32, alpha, vth, slope);
                else if (Hp == 32) SUF(lif_bwd_tile)(H1, S1, V1, GS1, 0, GH1, work, 1, T, 32, 32, alpha, vth, slope);
                else (standard ? SUF(slif_bwd_tile) : SUF(lif_bwd_tile))(H1, S1, V1, GS1, 0, GH1, work, 1, T, Hp, Hp,
                                                                           alpha, vth, slope);
                const int32_t* o = off + smp * (C + 1);
                const int16_t* st = step + base[smp];
                if (Hp == 4 * L) SUF(sample_weight_grad)(o, st, C, GH1, 4 * L, g1);
                else SUF(sample_weight_grad)(o, st, C, GH1, Hp, g1);
            }
        }
        /* each model's gradient: its tiles' blocks summed in tile order (elements split over threads) */
        int64_t n1 = C * Hp, n2 = Hp * Op;
        #pragma omp for schedule(static)
        for (int64_t e = 0; e < M * (n1 + n2); ++e) {
            int64_t m = e / (n1 + n2), i = e % (n1 + n2);
            const real* src = i < n1 ? gw1t + m * per * n1 + i : gw2t + m * per * n2 + (i - n1);
            int64_t stride = i < n1 ? n1 : n2;
            real acc = src[0];
            for (int64_t c = 1; c < per; ++c) acc += src[c * stride];
            if (i < n1) gw1[m * n1 + i] = acc; else gw2[m * n2 + (i - n1)] = acc;
        }
        free(active); free(buf);
        FTZ_END
    }
}

#endif
