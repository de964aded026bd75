/* Depthwise 2-D convolution, float32 NCHW, AVX2+FMA (see conv_dw.h).
 *
 * 3x3 and 5x5 kernels with equal strides 1 or 2 run a kernel specialised
 * for their size: the weights are broadcast once per plane, and each pass
 * computes DW_ROWS output rows eight columns at a time, so each input row
 * loaded serves every output row it touches. The padding costs no copy:
 * a vector whose taps all fall inside the row loads them plainly, the
 * ones at the row's ends (and a last, partial vector) load with a mask that
 * reads zeros outside the row, and input rows above or below the plane are
 * skipped. Stride 2 splits each pair of loaded vectors into their even and
 * odd elements with one shuffle per tap column; the shuffles leave the
 * lanes in the order 0 1 4 5 2 3 6 7, which one permute undoes before the
 * store. Bias, residual and the cheap activations (and SiLU) are applied
 * in registers before the store; the other activations go over each pass's
 * rows while they are in L1.
 *
 * Other shapes take a generic plane kernel (runtime kernel loops over a
 * zero-padded copy of the plane), and planes narrower than a vector can go
 * eight channels at a time, one per lane (spd_depthwise8_avx2). */
#include "ops/conv_dw.h"
#include "util/alloc.h"
#include "util/scratch.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include "ops/vmath_avx2_inl.h"
#include "ops/avx2_regs.h"

/* ---- 3x3 and 5x5 ---- */

/* Output rows per pass: at stride 1 each input row serves up to 3 (5)
 * of them; at stride 2 fewer, and 2 rows keep the code short. */
#define DW_RMAX 4
#define DW_ROWS(S) ((S) == 1 ? 4 : 2)

typedef struct dw_plane {
    const float *x, *z;
    float *y;
    int64_t H, W, OH, OW, pt, pl;
    bool spill; /* whether a partial vector may be stored whole (dw_put) */
} dw_plane;

/* Lanes i with 0 <= start + i < n. */
INLINE __m256i range_mask(int64_t start, int64_t n)
{
    const __m256i idx = _mm256_add_epi32(_mm256_set1_epi32((int32_t)start), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_setzero_si256(), idx),
                               _mm256_cmpgt_epi32(_mm256_set1_epi32((int32_t)n), idx));
}

/* acc[0..R) += the taps of output columns [ox, ox+8) of the pass whose
 * input rows are rows[0 .. (R-1)*S + K) (NULL: padding), R = DW_ROWS(S); w: the K*K
 * weights, broadcast. EDGE: every load masked to [0, W). Stride 2 (PH: pl's
 * parity) leaves the lanes permuted. */
INLINE void dw_col(const dw_plane *c, const __m256 *w, const int K, const int S, const int PH, const bool EDGE,
                   const float *const *rows, int64_t ox, __m256 *acc)
{
    const int R = DW_ROWS(S);
    if (S == 1) {
        const int64_t x0 = ox - c->pl;
        __m256i m[5];
        if (EDGE) {
#pragma GCC unroll 5
            for (int kx = 0; kx < K; kx++) m[kx] = range_mask(x0 + kx, c->W);
        }
#pragma GCC unroll 12
        for (int j = 0; j < R - 1 + K; j++) {
            if (!rows[j]) continue;
            const float *r = rows[j] + x0;
            __m256 t[5];
#pragma GCC unroll 5
            for (int kx = 0; kx < K; kx++) t[kx] = EDGE ? _mm256_maskload_ps(r + kx, m[kx]) : _mm256_loadu_ps(r + kx);
#pragma GCC unroll 4
            for (int i = 0; i < R; i++) {
                const int ky = j - i;
                if (ky < 0 || ky >= K) continue;
#pragma GCC unroll 5
                for (int kx = 0; kx < K; kx++) acc[i] = _mm256_fmadd_ps(w[ky * K + kx], t[kx], acc[i]);
            }
        }
    } else {
        /* pair q = the 16 floats from x0 + 2q: its evens are tap column
         * 2q - PH, its odds 2q + 1 - PH */
        const int NP = (K - 1 + PH) / 2 + 1;
        const int64_t x0 = 2 * ox - c->pl - PH;
        __m256i m[6];
        if (EDGE) {
#pragma GCC unroll 3
            for (int q = 0; q < NP; q++) {
                m[2 * q] = range_mask(x0 + 2 * q, c->W);
                m[2 * q + 1] = range_mask(x0 + 2 * q + 8, c->W);
            }
        }
#pragma GCC unroll 12
        for (int j = 0; j < 2 * (R - 1) + K; j++) {
            if (!rows[j]) continue;
            const float *r = rows[j] + x0;
            __m256 ev[3], od[3];
#pragma GCC unroll 3
            for (int q = 0; q < NP; q++) {
                const __m256 lo = EDGE ? _mm256_maskload_ps(r + 2 * q, m[2 * q]) : _mm256_loadu_ps(r + 2 * q);
                const __m256 hi =
                    EDGE ? _mm256_maskload_ps(r + 2 * q + 8, m[2 * q + 1]) : _mm256_loadu_ps(r + 2 * q + 8);
                ev[q] = _mm256_shuffle_ps(lo, hi, 0x88);
                od[q] = _mm256_shuffle_ps(lo, hi, 0xDD);
            }
#pragma GCC unroll 4
            for (int i = 0; i < R; i++) {
                const int ky = j - 2 * i;
                if (ky < 0 || ky >= K) continue;
#pragma GCC unroll 5
                for (int kx = 0; kx < K; kx++) {
                    const int u = kx + PH;
                    acc[i] = _mm256_fmadd_ps(w[ky * K + kx], u & 1 ? od[u >> 1] : ev[u >> 1], acc[i]);
                }
            }
        }
    }
}

/* Stores v at y[o .. o+8) (EDGE: the lanes of sm) after the residual and
 * the activation KIND (SPD_ACT_NONE when applied later). A partial vector
 * is stored whole where c->spill allows and the plane continues past it:
 * AMD's masked stores cost several plain ones, and the lanes past the row
 * land at the start of a later row, which is stored after (see
 * dw_plane_run's order). */
INLINE void dw_put(const dw_plane *c, const int S, const spd_act_kind KIND, const bool EDGE, __m256 v, __m256 a,
                   __m256 b, int64_t o, __m256i sm)
{
    if (S == 2) v = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(v), 0xD8));
    if (c->z) v = _mm256_add_ps(v, EDGE ? _mm256_maskload_ps(c->z + o, sm) : _mm256_loadu_ps(c->z + o));
    v = act8(KIND, v, a, b);
    if (!EDGE || (c->spill && o + 8 <= c->OH * c->OW))
        _mm256_storeu_ps(c->y + o, v);
    else
        _mm256_maskstore_ps(c->y + o, sm, v);
}

/* One plane: weights wp, bias, activation ac; KIND is ac's kind when it is
 * applied in registers, else SPD_ACT_NONE and ac goes over each pass's rows
 * after it. */
INLINE void dw_plane_run(const dw_plane *cp, const float *wp, float bias, const spd_act *ac, const int K, const int S,
                         const int PH, const spd_act_kind KIND)
{
    /* locals, so that the stores through y need not reload them */
    const dw_plane c = *cp;
    __m256 w[25];
#pragma GCC unroll 25
    for (int k = 0; k < K * K; k++) w[k] = _mm256_broadcast_ss(wp + k);
    const __m256 bv = _mm256_set1_ps(bias), a = _mm256_set1_ps(ac->a), b = _mm256_set1_ps(ac->b);
    const bool late = KIND == SPD_ACT_NONE && ac->kind != SPD_ACT_NONE;
    const int R = DW_ROWS(S), NR = (R - 1) * S + K;
    /* the loads of a vector at ox cover [x0, x0 + span) */
    const int64_t span = S == 1 ? K - 1 + 8 : 2 * ((K - 1 + PH) / 2) + 16;
    const float *rows[2 * (DW_RMAX - 1) + 5];
    for (int64_t oy0 = 0; oy0 < c.OH; oy0 += R) {
        for (int j = 0; j < NR; j++) {
            const int64_t iy = oy0 * S - c.pt + j;
            rows[j] = iy >= 0 && iy < c.H ? c.x + iy * c.W : NULL;
        }
        const int nr = c.OH - oy0 < R ? (int)(c.OH - oy0) : R;
        const int64_t o0 = oy0 * c.OW;
        /* right to left, rows top to bottom: what a partial vector spills
         * into the next row is overwritten by that row's first vector */
        for (int64_t ox = (c.OW - 1) / 8 * 8; ox >= 0; ox -= 8) {
            const int64_t x0 = S == 1 ? ox - c.pl : 2 * ox - c.pl - PH;
            __m256 acc[DW_RMAX];
#pragma GCC unroll 4
            for (int i = 0; i < R; i++) acc[i] = bv;
            if (ox + 8 <= c.OW && x0 >= 0 && x0 + span <= c.W) {
                dw_col(&c, w, K, S, PH, false, rows, ox, acc);
#pragma GCC unroll 4
                for (int i = 0; i < R; i++)
                    if (i < nr) dw_put(&c, S, KIND, false, acc[i], a, b, o0 + i * c.OW + ox, _mm256_setzero_si256());
            } else {
                const __m256i sm = range_mask(ox, c.OW);
                dw_col(&c, w, K, S, PH, true, rows, ox, acc);
#pragma GCC unroll 4
                for (int i = 0; i < R; i++)
                    if (i < nr) dw_put(&c, S, KIND, true, acc[i], a, b, o0 + i * c.OW + ox, sm);
            }
        }
        if (late) spd_vact_f32_avx2(ac, c.y + o0, c.y + o0, nr * c.OW);
    }
}

/* One (K, S, PH) kernel, with the activations applied in registers
 * specialised. */
#define DW_KERNEL(NAME, K, S, PH)                                                                                      \
    static TARGET void NAME(const dw_plane *c, const float *w, float bias, const spd_act *ac)                         \
    {                                                                                                                  \
        switch (ac->kind) {                                                                                            \
        case SPD_ACT_RELU: dw_plane_run(c, w, bias, ac, K, S, PH, SPD_ACT_RELU); break;                                \
        case SPD_ACT_CLIP: dw_plane_run(c, w, bias, ac, K, S, PH, SPD_ACT_CLIP); break;                                \
        case SPD_ACT_SILU: dw_plane_run(c, w, bias, ac, K, S, PH, SPD_ACT_SILU); break;                                \
        default: dw_plane_run(c, w, bias, ac, K, S, PH, SPD_ACT_NONE); break;                                          \
        }                                                                                                              \
    }

DW_KERNEL(dw3s1, 3, 1, 0)
DW_KERNEL(dw3s2e, 3, 2, 0)
DW_KERNEL(dw3s2o, 3, 2, 1)
DW_KERNEL(dw5s1, 5, 1, 0)
DW_KERNEL(dw5s2e, 5, 2, 0)
DW_KERNEL(dw5s2o, 5, 2, 1)

/* Whether the 3x3 / 5x5 kernels take p (the masks' lane arithmetic is
 * int32). */
bool spd_depthwise_specialised(const spd_dw_params *p)
{
    return p->KH == p->KW && (p->KH == 3 || p->KH == 5) && p->sy == p->sx && (p->sy == 1 || p->sy == 2) &&
           p->W < (INT32_MAX >> 2) && p->OW < (INT32_MAX >> 2) && p->pl < (INT32_MAX >> 2);
}

static TARGET void dw_plane_special(const spd_dw_params *p, const float *x, const float *w, float bias,
                                    const spd_act *ac, const float *z, float *y)
{
    /* a spill would overwrite residual values not yet read if z were y */
    const uintptr_t yb = (uintptr_t)y, zb = (uintptr_t)z, n = (uintptr_t)(p->OH * p->OW) * sizeof(float);
    const dw_plane c = {x, z, y, p->H, p->W, p->OH, p->OW, p->pt, p->pl, !z || zb + n <= yb || yb + n <= zb};
    if (p->KH == 3) {
        if (p->sx == 1) dw3s1(&c, w, bias, ac);
        else if (p->pl & 1) dw3s2o(&c, w, bias, ac);
        else dw3s2e(&c, w, bias, ac);
    } else {
        if (p->sx == 1) dw5s1(&c, w, bias, ac);
        else if (p->pl & 1) dw5s2o(&c, w, bias, ac);
        else dw5s2e(&c, w, bias, ac);
    }
}

/* ---- any other kernel ---- */

/* 8 outputs of stride 2 starting at p: p[0], p[2], ..., p[14] (reads p[0..14]). */
INLINE __m256 load_even8(const float *p)
{
    const __m256 lo = _mm256_loadu_ps(p), hi = _mm256_loadu_ps(p + 7);
    const __m256 s = _mm256_shuffle_ps(lo, hi, 0xD8); /* p0 p2 p8 p10 | p4 p6 p12 p14 */
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(s), 0xD8));
}

/* One output row, columns [ox0, ox1) all of whose taps are inside the row;
 * rows[ky] points at input row oy*sy + ky - pt or is NULL (padding). */
INLINE void dw_row_interior(const spd_dw_params *p, const float *const *rows, const float *w, float bias, int64_t ox0,
                            int64_t ox1, float *yr, bool read_past_end)
{
    const int64_t KH = p->KH, KW = p->KW, sx = p->sx, pl = p->pl;
    const __m256 bv = _mm256_set1_ps(bias);
    int64_t ox = ox0;
    for (; ox + 16 <= ox1; ox += 16) {
        __m256 a0 = bv, a1 = bv;
        for (int64_t ky = 0; ky < KH; ky++) {
            if (!rows[ky]) continue;
            const float *xr = rows[ky] + ox * sx - pl;
            for (int64_t kx = 0; kx < KW; kx++) {
                const __m256 wv = _mm256_broadcast_ss(w + ky * KW + kx);
                if (sx == 1) {
                    a0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(xr + kx), a0);
                    a1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(xr + kx + 8), a1);
                } else {
                    a0 = _mm256_fmadd_ps(wv, load_even8(xr + kx), a0);
                    a1 = _mm256_fmadd_ps(wv, load_even8(xr + kx + 16), a1);
                }
            }
        }
        _mm256_storeu_ps(yr + ox, a0);
        _mm256_storeu_ps(yr + ox + 8, a1);
    }
    for (; ox + 8 <= ox1; ox += 8) {
        __m256 a0 = bv;
        for (int64_t ky = 0; ky < KH; ky++) {
            if (!rows[ky]) continue;
            const float *xr = rows[ky] + ox * sx - pl;
            for (int64_t kx = 0; kx < KW; kx++) {
                const __m256 wv = _mm256_broadcast_ss(w + ky * KW + kx);
                a0 = _mm256_fmadd_ps(wv, sx == 1 ? _mm256_loadu_ps(xr + kx) : load_even8(xr + kx), a0);
            }
        }
        _mm256_storeu_ps(yr + ox, a0);
    }
    if (read_past_end && ox < ox1) {
        /* the last 1..7 columns in one vector: the loads may read past the
         * row (the caller's buffer has room), only the valid lanes are stored */
        const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(ox1 - ox)),
                                                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        __m256 a0 = bv;
        for (int64_t ky = 0; ky < KH; ky++) {
            const float *xr = rows[ky] + ox * sx - pl;
            for (int64_t kx = 0; kx < KW; kx++) {
                const __m256 wv = _mm256_broadcast_ss(w + ky * KW + kx);
                a0 = _mm256_fmadd_ps(wv, sx == 1 ? _mm256_loadu_ps(xr + kx) : load_even8(xr + kx), a0);
            }
        }
        _mm256_maskstore_ps(yr + ox, mask, a0);
        return;
    }
    for (; ox < ox1; ox++) {
        float acc = bias;
        for (int64_t ky = 0; ky < KH; ky++) {
            if (!rows[ky]) continue;
            const float *xr = rows[ky] + ox * sx - pl;
            for (int64_t kx = 0; kx < KW; kx++) acc += w[ky * KW + kx] * xr[kx];
        }
        yr[ox] = acc;
    }
}

/* Output column ox with its taps clipped to the row. */
static inline float dw_edge(const spd_dw_params *p, const float *const *rows, const float *w, float bias, int64_t ox)
{
    float acc = bias;
    for (int64_t ky = 0; ky < p->KH; ky++) {
        if (!rows[ky]) continue;
        for (int64_t kx = 0; kx < p->KW; kx++) {
            const int64_t ix = ox * p->sx + kx - p->pl;
            if (ix >= 0 && ix < p->W) acc += w[ky * p->KW + kx] * rows[ky][ix];
        }
    }
    return acc;
}

/* Planes up to this many floats are zero-padded on the stack; the copy
 * has DW_SLACK floats beyond the plane for the last row's vector reads. */
#define DW_STACK_FLOATS 8192
#define DW_SLACK 32

static TARGET void dw_plane_generic(const spd_dw_params *p, const float *x, const float *w, float bias,
                                    const spd_act *ac, const float *z, float *y)
{
    const float *rows[64];
    const int64_t OW = p->OW, OH = p->OH;
    /* The input window every output reads: with padding, a zero-bordered copy
     * of the plane makes every column an interior one, so each row runs in
     * vectors from edge to edge (small planes are mostly edge otherwise). */
    const int64_t PH = (OH - 1) * p->sy + p->KH, PW = (OW - 1) * p->sx + p->KW;
    const bool pad = p->pt > 0 || p->pl > 0 || PH > p->H || PW > p->W || OW % 8 != 0;
    float sbuf[DW_STACK_FLOATS];
    float *heap = NULL, *buf = NULL;
    if (pad) {
        const int64_t n = PH * PW + DW_SLACK;
        buf = n <= DW_STACK_FLOATS ? sbuf : (heap = spd_malloc((size_t)n * sizeof(float)));
        if (buf) memset(buf + PH * PW, 0, DW_SLACK * sizeof(float));
    }
    if (pad && buf) {
        for (int64_t r = 0; r < PH; r++) {
            float *dst = buf + r * PW;
            const int64_t iy = r - p->pt;
            if (iy < 0 || iy >= p->H) {
                memset(dst, 0, (size_t)PW * sizeof(float));
                continue;
            }
            const int64_t c0 = p->pl < PW ? p->pl : PW; /* first column inside the input */
            int64_t c1 = p->pl + p->W;                  /* one past the last */
            if (c1 > PW) c1 = PW;
            memset(dst, 0, (size_t)c0 * sizeof(float));
            if (c1 > c0) memcpy(dst + c0, x + iy * p->W + (c0 - p->pl), (size_t)(c1 - c0) * sizeof(float));
            if (c1 < PW) memset(dst + (c1 > c0 ? c1 : c0), 0, (size_t)(PW - (c1 > c0 ? c1 : c0)) * sizeof(float));
        }
        spd_dw_params q = *p;
        q.H = PH;
        q.W = PW;
        q.pt = q.pl = 0;
        for (int64_t oy = 0; oy < OH; oy++) {
            for (int64_t ky = 0; ky < q.KH; ky++) rows[ky] = buf + (oy * q.sy + ky) * PW;
            dw_row_interior(&q, rows, w, bias, 0, OW, y + oy * OW, true);
        }
    } else {
        /* no padding (or no memory for the copy): interior columns in
         * vectors, the clipped edge columns one by one */
        const int64_t sx = p->sx;
        int64_t lo = (p->pl + sx - 1) / sx;
        int64_t hi = p->W - p->KW + p->pl >= 0 ? (p->W - p->KW + p->pl) / sx + 1 : 0;
        if (lo > OW) lo = OW;
        if (hi > OW) hi = OW;
        if (hi < lo) hi = lo;
        for (int64_t oy = 0; oy < OH; oy++) {
            for (int64_t ky = 0; ky < p->KH; ky++) {
                const int64_t iy = oy * p->sy + ky - p->pt;
                rows[ky] = iy >= 0 && iy < p->H ? x + iy * p->W : NULL;
            }
            float *yr = y + oy * OW;
            for (int64_t ox = 0; ox < lo; ox++) yr[ox] = dw_edge(p, rows, w, bias, ox);
            dw_row_interior(p, rows, w, bias, lo, hi, yr, false);
            for (int64_t ox = hi; ox < OW; ox++) yr[ox] = dw_edge(p, rows, w, bias, ox);
        }
    }
    spd_free(heap);
    /* the epilogue once over the whole plane, not row by row */
    if (ac->kind != SPD_ACT_NONE || z) spd_vact_bias_f32_avx2(ac, y, OH * OW, 0.0f, z);
}

/* ---- planes narrower than a vector, stride 1 ---- */

/* Taps the flat kernel keeps in registers (5x5). */
#define DW_FLAT_TAPS 25

/* Whether dw_plane_flat takes p: stride 1, a plane narrower than a vector
 * (its rows would each be one masked vector), a small kernel, and a
 * residual that is not the output itself (the rows are copied out before
 * the epilogue reads it). */
static bool flat_fits(const spd_dw_params *p, const float *z, const float *y)
{
    const uintptr_t yb = (uintptr_t)y, zb = (uintptr_t)z, n = (uintptr_t)(p->OH * p->OW) * sizeof(float);
    if (p->sy != 1 || p->sx != 1 || p->OW >= 8 || p->KH * p->KW > DW_FLAT_TAPS || p->OH > DW_STACK_FLOATS) return false;
    const int64_t PW = p->OW + p->KW - 1;
    return (p->OH + p->KH - 1) * PW + p->KW + 8 <= DW_STACK_FLOATS / 2 && (!z || zb + n <= yb || yb + n <= zb);
}

/* Output row oy of the flat kernel before its activation: bias plus the
 * taps over xin (rows PW apart), plus the residual row; lanes past OW are
 * garbage. Inlined with constant KH, KW for 3x3 and 5x5. */
__attribute__((always_inline)) static TARGET inline void flat_rows(const int64_t KH, const int64_t KW,
                                                                   const spd_dw_params *p, int64_t PW,
                                                                   const float *xin, const float *w, float bias,
                                                                   const spd_act *ac, bool act_in_regs,
                                                                   const float *z, float *y)
{
    const int64_t OH = p->OH, OW = p->OW, n = OH * OW;
    __m256 wv[DW_FLAT_TAPS];
    for (int64_t t = 0; t < KH * KW; t++) wv[t] = _mm256_set1_ps(w[t]);
    const __m256 b = _mm256_set1_ps(bias), pa = _mm256_set1_ps(ac->a), pb = _mm256_set1_ps(ac->b);
    const __m256i m = tail_mask(OW);
    for (int64_t oy = 0; oy < OH; oy++) {
        const float *src = xin + oy * PW;
        /* two chains: a row's taps are otherwise one dependent chain */
        __m256 acc = b, acc2 = _mm256_setzero_ps();
        for (int64_t ky = 0; ky < KH; ky++)
            for (int64_t kx = 0; kx < KW; kx++) {
                const __m256 t = _mm256_mul_ps(wv[ky * KW + kx], _mm256_loadu_ps(src + ky * PW + kx));
                if ((ky * KW + kx) & 1)
                    acc2 = _mm256_add_ps(acc2, t);
                else
                    acc = _mm256_add_ps(acc, t);
            }
        acc = _mm256_add_ps(acc, acc2);
        /* whole vectors while they end inside the plane: the lanes past the
         * row land on the next rows, written after this one */
        const bool whole = oy * OW + 8 <= n;
        if (z) acc = _mm256_add_ps(acc, whole ? _mm256_loadu_ps(z + oy * OW) : _mm256_maskload_ps(z + oy * OW, m));
        if (act_in_regs) acc = act8(ac->kind, acc, pa, pb);
        if (whole)
            _mm256_storeu_ps(y + oy * OW, acc);
        else
            _mm256_maskstore_ps(y + oy * OW, m, acc);
    }
}

/* The zero-padded plane is one flat array with rows PW = OW + KW - 1
 * apart: output row oy is the vector at oy*PW plus ky*PW + kx for each tap,
 * whole vectors with nothing masked (the lanes past OW are dropped).
 * Row by row over the plane itself, keyword spotting's 25x5 planes cost a
 * masked load per tap and a masked store per row (a third of that model's
 * time). The copy in goes top down in whole vectors: one running past its
 * row writes zeros over what follows before any of it is written (calls to
 * memcpy for 20 bytes cost more than the products). */
static TARGET void dw_plane_flat(const spd_dw_params *p, const float *x, const float *w, float bias,
                                 const spd_act *ac, const float *z, float *y)
{
    const int64_t OH = p->OH, OW = p->OW, KH = p->KH, KW = p->KW;
    const int64_t PH = OH + KH - 1, PW = OW + KW - 1;
    /* the last row's farthest tap reads 8 floats from (PH - 1) * PW + KW - 1 */
    const int64_t nin = PH * PW + KW + 8;
    float xin[DW_STACK_FLOATS / 2];
    memset(xin, 0, (size_t)nin * sizeof(float));
    for (int64_t r = 0; r < PH; r++) {
        const int64_t iy = r - p->pt;
        if (iy < 0 || iy >= p->H) continue;
        const int64_t c0 = p->pl < PW ? p->pl : PW; /* first column inside the input */
        const int64_t c1 = p->pl + p->W < PW ? p->pl + p->W : PW;
        const float *src = x + iy * p->W + (c0 - p->pl);
        float *dst = xin + r * PW + c0;
        for (int64_t q = 0; q < c1 - c0; q += 8) {
            if (c1 - c0 - q >= 8) {
                _mm256_storeu_ps(dst + q, _mm256_loadu_ps(src + q));
            } else { /* zeros past the run: padding, or rows written later */
                const __m256i m = tail_mask(c1 - c0 - q);
                /* a plain load where the plane goes on past it (a masked
                 * load costs more on AMD), masked at the plane's end */
                const bool inside = src + q + 8 <= x + p->H * p->W;
                const __m256 v = inside ? _mm256_and_ps(_mm256_loadu_ps(src + q), _mm256_castsi256_ps(m))
                                        : _mm256_maskload_ps(src + q, m);
                _mm256_storeu_ps(dst + q, v);
            }
        }
    }
    const spd_act_kind k = ac->kind;
    const bool in_regs = k == SPD_ACT_NONE || k == SPD_ACT_RELU || k == SPD_ACT_CLIP || k == SPD_ACT_LEAKYRELU ||
                         k == SPD_ACT_HARDSIGMOID || k == SPD_ACT_SILU;
    if (KH == 3 && KW == 3)
        flat_rows(3, 3, p, PW, xin, w, bias, ac, in_regs, z, y);
    else if (KH == 5 && KW == 5)
        flat_rows(5, 5, p, PW, xin, w, bias, ac, in_regs, z, y);
    else
        flat_rows(KH, KW, p, PW, xin, w, bias, ac, in_regs, z, y);
    if (!in_regs) spd_vact_bias_f32_avx2(ac, y, OH * OW, 0.0f, NULL);
}

TARGET void spd_depthwise_plane_avx2(const spd_dw_params *p, const float *x, const float *w, float bias,
                                     const spd_act *ac, const float *z, float *y)
{
    if (flat_fits(p, z, y))
        dw_plane_flat(p, x, w, bias, ac, z, y);
    else if (spd_depthwise_specialised(p))
        dw_plane_special(p, x, w, bias, ac, z, y);
    else
        dw_plane_generic(p, x, w, bias, ac, z, y);
}

/* ---- narrow planes, eight channels at a time ---- */


/* Eight planes interleaved into xi, one channel per lane, zero-padded to
 * PH x PW pixels of 8 floats: input rows go through 8x8 register
 * transposes, up to eight pixels of a row per transpose. Each transpose
 * stores all eight pixels: past the row's input columns they land on its
 * right padding, zeroed after, or on the next row, written after (xi has
 * 8 pixels of slack past the last row). */
static TARGET void interleave8(const spd_dw_params *p, const float *x, int64_t PH, int64_t PW, float *xi)
{
    const int64_t H = p->H, W = p->W, in_n = H * W;
    const __m256 zero = _mm256_setzero_ps();
    const int64_t c0 = p->pl < PW ? p->pl : PW; /* the columns [c0, c1) come from x */
    const int64_t c1 = p->pl + W < PW ? p->pl + W : PW;
    for (int64_t r = 0; r < PH; r++) {
        float *dst = xi + r * PW * 8;
        const int64_t iy = r - p->pt;
        if (iy < 0 || iy >= H) {
            for (int64_t q = 0; q < PW; q++) _mm256_storeu_ps(dst + q * 8, zero);
            continue;
        }
        for (int64_t q = 0; q < c0; q++) _mm256_storeu_ps(dst + q * 8, zero);
        for (int64_t q = c0; q < c1; q += 8) {
            const int64_t at = iy * W + (q - p->pl);
            /* a plain load reads on into the next row, or the next plane,
             * but not past the eighth plane's end */
            __m256 v[8];
            if (at + 8 <= in_n) {
                for (int c = 0; c < 8; c++) v[c] = _mm256_loadu_ps(x + c * in_n + at);
            } else {
                const __m256i m = tail_mask(in_n - at);
                for (int c = 0; c < 8; c++) v[c] = _mm256_maskload_ps(x + c * in_n + at, m);
            }
            transpose8_regs(v);
            for (int j = 0; j < 8; j++) _mm256_storeu_ps(dst + (q + j) * 8, v[j]);
        }
        for (int64_t q = c1; q < PW; q++) _mm256_storeu_ps(dst + q * 8, zero);
    }
}

/* One output pixel of the eight channels: bias plus KH*KW taps from the
 * window at base (rows PW pixels apart), in two chains. */
__attribute__((always_inline)) static TARGET inline __m256 dw8_pixel(const int64_t KH, const int64_t KW, int64_t PW,
                                                                     const float *base, const __m256 *wv, __m256 bv)
{
    __m256 acc = bv, acc2 = _mm256_setzero_ps();
    for (int64_t ky = 0; ky < KH; ky++)
        for (int64_t kx = 0; kx < KW; kx++) {
            const int64_t t = ky * KW + kx;
            const __m256 xv = _mm256_loadu_ps(base + (ky * PW + kx) * 8);
            if (t & 1)
                acc2 = _mm256_fmadd_ps(wv[t], xv, acc2);
            else
                acc = _mm256_fmadd_ps(wv[t], xv, acc);
        }
    return _mm256_add_ps(acc, acc2);
}

/* Eight pixels of eight channels (r[j]: pixel o0 + j) go back to the
 * planes: one transpose makes them a run of g <= 8 pixels per channel, to
 * which the residual and the activation (none, Relu or Clip) apply before
 * the store. */
__attribute__((always_inline)) static TARGET inline void dw8_store(__m256 r[8], int g, int64_t o0, int64_t out_n,
                                                                   const spd_act_kind KIND, __m256 pa, __m256 pb,
                                                                   const float *z, float *y)
{
    transpose8_regs(r);
    const __m256i m = tail_mask(g < 8 ? g : 1);
    const __m256 zero = _mm256_setzero_ps();
    for (int c = 0; c < 8; c++) {
        __m256 v = r[c];
        const int64_t at = c * out_n + o0;
        if (z) v = _mm256_add_ps(v, g == 8 ? _mm256_loadu_ps(z + at) : _mm256_maskload_ps(z + at, m));
        if (KIND == SPD_ACT_RELU)
            v = _mm256_max_ps(v, zero);
        else if (KIND == SPD_ACT_CLIP)
            v = _mm256_min_ps(pb, _mm256_max_ps(pa, v));
        else if (KIND == SPD_ACT_SILU)
            v = act8(SPD_ACT_SILU, v, pa, pb);
        if (g == 8)
            _mm256_storeu_ps(y + at, v);
        else
            store_first(y + at, v, g);
    }
}

/* The last g < 8 pixels from o0 (any kernel size, the activation kind at
 * run time): one copy for every shape, not one per specialisation. */
static TARGET __attribute__((noinline)) void dw8_tail(int64_t KH, int64_t KW, spd_act_kind kind, int64_t PW,
                                                      const float *xi, const int32_t *off, const __m256 *wv,
                                                      __m256 bv, int64_t o0, int64_t out_n, __m256 pa, __m256 pb,
                                                      const float *z, float *y)
{
    const int g = (int)(out_n - o0);
    __m256 r[8];
    for (int j = 0; j < 8; j++) {
        r[j] = _mm256_setzero_ps();
        if (j >= g) continue;
        __m256 acc = bv;
        for (int64_t ky = 0; ky < KH; ky++)
            for (int64_t kx = 0; kx < KW; kx++)
                acc = _mm256_fmadd_ps(wv[ky * KW + kx], _mm256_loadu_ps(xi + off[o0 + j] + (ky * PW + kx) * 8), acc);
        r[j] = acc;
    }
    if (kind == SPD_ACT_RELU)
        dw8_store(r, g, o0, out_n, SPD_ACT_RELU, pa, pb, z, y);
    else if (kind == SPD_ACT_CLIP)
        dw8_store(r, g, o0, out_n, SPD_ACT_CLIP, pa, pb, z, y);
    else if (kind == SPD_ACT_SILU)
        dw8_store(r, g, o0, out_n, SPD_ACT_SILU, pa, pb, z, y);
    else
        dw8_store(r, g, o0, out_n, SPD_ACT_NONE, pa, pb, z, y);
}

/* Every output pixel, eight at a time; off[o]: pixel o's window in xi.
 * Inlined with constant KH, KW (3x3, 5x5) and KIND (none, Relu, Clip,
 * SiLU: other activations go over the planes after). */
__attribute__((always_inline)) static TARGET inline void dw8_run(const int64_t KH, const int64_t KW,
                                                                 const spd_act_kind KIND, const spd_dw_params *p,
                                                                 int64_t PW, const float *xi, const int32_t *off,
                                                                 const float *wi, __m256 bv, const spd_act *ac,
                                                                 const float *z, float *y)
{
    const int64_t out_n = p->OH * p->OW;
    const __m256 pa = _mm256_set1_ps(ac->a), pb = _mm256_set1_ps(ac->b);
    __m256 wv[SPD_DW8_MAX_TAPS];
    for (int64_t t = 0; t < KH * KW; t++) wv[t] = _mm256_loadu_ps(wi + t * 8);
    int64_t o0 = 0;
    for (; o0 + 8 <= out_n; o0 += 8) {
        __m256 r[8];
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) r[j] = dw8_pixel(KH, KW, PW, xi + off[o0 + j], wv, bv);
        dw8_store(r, 8, o0, out_n, KIND, pa, pb, z, y);
    }
    if (o0 < out_n) dw8_tail(KH, KW, KIND, PW, xi, off, wv, bv, o0, out_n, pa, pb, z, y);
}

/* dw8_run with KH, KW and the activation made constants. */
#define DW8_KIND(KH, KW)                                                                                   \
    switch ((int)kind) {                                                                                     \
    case SPD_ACT_RELU: dw8_run(KH, KW, SPD_ACT_RELU, p, PW, xi, off, wi, bv, ac, z, y); break;                \
    case SPD_ACT_CLIP: dw8_run(KH, KW, SPD_ACT_CLIP, p, PW, xi, off, wi, bv, ac, z, y); break;                \
    case SPD_ACT_SILU: dw8_run(KH, KW, SPD_ACT_SILU, p, PW, xi, off, wi, bv, ac, z, y); break;                \
    default: dw8_run(KH, KW, SPD_ACT_NONE, p, PW, xi, off, wi, bv, ac, z, y); break;                         \
    }

/* Eight depthwise planes at once, one channel per lane: for planes too
 * narrow to fill a vector along their width (keyword spotting's 25x5, the
 * 7x7 of a CNN's last stage), where a plane at a time pays a masked vector
 * per row and tap. The planes are interleaved into a zero-padded copy (the
 * thread's scratch), every output pixel is KH*KW vector FMAs, and eight
 * pixels at a time go back to the planes through a register transpose,
 * with the epilogue. x, y, z: the first of eight consecutive planes (y may
 * be x or z, no other overlap); w: their KH*KW weights each; bias: 8 or
 * NULL. */
TARGET void spd_depthwise8_avx2(const spd_dw_params *p, const float *x, const float *w, const float *bias,
                                const spd_act *ac, const float *z, float *y)
{
    const int64_t OH = p->OH, OW = p->OW, KH = p->KH, KW = p->KW, nk = KH * KW, out_n = OH * OW;
    const int64_t PH = (OH - 1) * p->sy + KH, PW = (OW - 1) * p->sx + KW;
    const size_t n_off = ((size_t)out_n + 15) / 16 * 16;
    char *mem = spd_scratch(SPD_SCRATCH_CONV_TASK,
                            n_off * sizeof(int32_t) + (size_t)(nk + PH * PW + 8) * 8 * sizeof(float));
    if (!mem || nk > SPD_DW8_MAX_TAPS) {
        /* no memory for the interleaved copy: one plane at a time */
        const int64_t in_n = p->H * p->W;
        for (int c = 0; c < 8; c++)
            spd_depthwise_plane_avx2(p, x + c * in_n, w + c * nk, bias ? bias[c] : 0.0f, ac,
                                     z ? z + c * out_n : NULL, y + c * out_n);
        return;
    }
    int32_t *off = (int32_t *)mem;
    float *wi = (float *)(mem + n_off * sizeof(int32_t)), *xi = wi + nk * 8;
    for (int64_t oy = 0, o = 0; oy < OH; oy++)
        for (int64_t ox = 0; ox < OW; ox++, o++) off[o] = (int32_t)((oy * p->sy * PW + ox * p->sx) * 8);
    for (int64_t k = 0; k < nk; k++)
        for (int c = 0; c < 8; c++) wi[k * 8 + c] = w[c * nk + k];
    interleave8(p, x, PH, PW, xi);
    const spd_act_kind kind = ac->kind;
    /* SiLU too: EfficientNet's 7x7 depthwise layers spent a third of their
     * time in a SiLU pass after */
    const bool in_regs = kind == SPD_ACT_NONE || kind == SPD_ACT_RELU || kind == SPD_ACT_CLIP || kind == SPD_ACT_SILU;
    const __m256 bv = bias ? _mm256_loadu_ps(bias) : _mm256_setzero_ps();
    if (KH == 3 && KW == 3) {
        DW8_KIND(3, 3)
    } else if (KH == 5 && KW == 5) {
        DW8_KIND(5, 5)
    } else {
        DW8_KIND(KH, KW)
    }
    if (!in_regs)
        for (int c = 0; c < 8; c++) spd_vact_bias_f32_avx2(ac, y + c * out_n, out_n, 0.0f, NULL);
}


#else /* not x86-64: never called (spd_vmath_avx2() is false) */

bool spd_depthwise_specialised(const spd_dw_params *p)
{
    (void)p;
    return false;
}

void spd_depthwise_plane_avx2(const spd_dw_params *p, const float *x, const float *w, float bias,
                              const spd_act *ac, const float *z, float *y)
{
    (void)p, (void)x, (void)w, (void)bias, (void)ac, (void)z, (void)y;
}
void spd_depthwise8_avx2(const spd_dw_params *p, const float *x, const float *w, const float *bias,
                         const spd_act *ac, const float *z, float *y)
{
    (void)p, (void)x, (void)w, (void)bias, (void)ac, (void)z, (void)y;
}

#endif
