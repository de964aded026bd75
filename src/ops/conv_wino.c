/* Winograd F(2x2, 3x3) convolution (see conv_wino.h).
 *
 * With the transforms
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
 *   G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
 *   A^T = [1 1 1 0; 0 1 -1 -1]
 * a 2x2 output tile of channel m is A^T [sum_c U_mc . V_c] A, where
 * U_mc = G g_mc G^T (4x4, per filter, made once) and V_c = B^T d_c B (4x4,
 * per input patch). Element xi of the 4x4 sum over c is a matrix product:
 * M[xi] (M x tiles) = U[xi] (M x C) * V[xi] (C x tiles), 16 GEMMs in all.
 *
 * The output is cut into blocks of up to 128 tiles (tiles numbered
 * row-major over image, tile row, tile column). A task takes one block at
 * a time: the input transform writes
 * V[16][C][Tb], the 16 GEMMs (single-threaded, on the kernel that packed
 * U) write M[16][M][Tb], and the output transform writes the block's tiles
 * of Y with bias, residual and activation. Blocks go to the threads.
 *
 * The AVX2 transforms work on runs of tiles along one tile row (a
 * "segment"), 8 tiles a vector. The input transform first combines the
 * patch rows for the whole segment (contiguous input, any alignment),
 * then splits the combined rows into even and odd columns to combine the
 * columns of 8 tiles at once. A whole vector of 8 tiles stays in the lane
 * order the in-lane split leaves (tiles 0 1 4 5 2 3 6 7): the GEMMs keep
 * columns apart, and the output transform's in-lane interleave of the two
 * output columns puts them back in order, so neither side permutes across
 * lanes. A last, partial vector of tiles goes in order and stores all 8
 * lanes: the extra lanes land on the next segment's columns, which are
 * written after, or on padding columns of V; the output transform stores
 * it with a mask. */
#include "ops/conv_wino.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ops/gemm.h"
#include "util/alloc.h"
#include "util/scratch.h"
#include "util/threadpool.h"

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* ---- when ---------------------------------------------------------------- */

static atomic_int g_enabled = -1; /* -1: environment not read yet */
static atomic_bool g_force_scalar;

void spd_conv_wino_force_scalar(bool on) { atomic_store(&g_force_scalar, on); }

bool spd_conv_wino_fits(int64_t C, int64_t M, int64_t OH, int64_t OW)
{
    int en = atomic_load(&g_enabled);
    if (en < 0) {
        const char *v = getenv("SPEEDSTER_WINO");
        en = !(v && v[0] == '0');
        atomic_store(&g_enabled, en);
    }
    if (!en) return false;
    /* Per tile the GEMMs save 20 of 36 multiply-adds per channel pair
     * (C*M), while the transforms cost some hundreds per channel (C + M),
     * so C*M / (C + M) decides (measured on one core, direct / Winograd:
     * 64->64 at 56x56 0.55-0.6, 512->512 at 7x7 0.6, 32->32 at 28x28 0.8,
     * 16->64 at 55x55 0.8-0.86; 48->192 at 13x13 1.0, 16->16 at 56x56 0.93,
     * 16->32 at 28x28 1.02). Fewer than 16 tiles leave the GEMM's column
     * panels part empty. */
    const int64_t tiles = cdiv(OH, 2) * cdiv(OW, 2);
    /* With the AVX-512 GEMM (twice the AVX2 rate, transforms still AVX2)
     * the direct product gains: squeezenet's 16->64 at 55x55 ran 0.93x as
     * long direct at 1 thread, 0.78x at 2; 32->128 at 27x27 still 1.16x. */
    int64_t ratio = spd_sgemm_isa_current() == SPD_SGEMM_AVX512 ? 16 : 12;
    /* Outputs of 8x8 and less (16 tiles; at 7x7 they compute 64 values for
     * 49) spread the transforms over few positions, and the one block of
     * tiles splits poorly over threads. Direct / Winograd time at 7x7 on
     * AVX-512, 1 and 2 threads: 64->32 0.78 / -, 128->32 0.85 / 0.62,
     * 96->48 0.94 / 0.62, 128->128 1.01 / 0.86, 160->320 1.13 / 1.03,
     * 256->256 1.11, 512->512 1.23 (at 14x14 Winograd won from 64->32 on). */
    if (ratio == 16 && tiles < 25) ratio = 96;
    return C >= 16 && M >= 16 && C * M >= ratio * (C + M) && tiles >= 16;
}

/* ---- weights ------------------------------------------------------------- */

static size_t u_stride(const spd_sgemm_kernel *kern, int64_t M, int64_t C)
{
    return kern ? spd_sgemm_prepacked_a_floats(kern, M, C) : (size_t)(M * C);
}

float *spd_conv_wino_pack_weights(const spd_sgemm_kernel *kern, const float *W, int64_t M, int64_t C)
{
    const size_t st = u_stride(kern, M, C), mc = (size_t)(M * C);
    float *u = spd_malloc(16 * st * sizeof(float) + 1);
    float *raw = kern ? spd_malloc(16 * mc * sizeof(float) + 1) : u;
    if (!u || !raw) {
        spd_free(u);
        if (raw != u) spd_free(raw);
        spd_errorf(SPD_ERR_NOMEM, "out of memory for Winograd weights (%lld x %lld)", (long long)M, (long long)C);
        return NULL;
    }
    static const double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    for (int64_t m = 0; m < M; m++)
        for (int64_t c = 0; c < C; c++) {
            const float *g = W + (m * C + c) * 9;
            double t[4][3]; /* G g */
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 3; j++) t[i][j] = G[i][0] * g[j] + G[i][1] * g[3 + j] + G[i][2] * g[6 + j];
            for (int i = 0; i < 4; i++)
                for (int l = 0; l < 4; l++)
                    raw[(size_t)(i * 4 + l) * mc + (size_t)(m * C + c)] =
                        (float)(t[i][0] * G[l][0] + t[i][1] * G[l][1] + t[i][2] * G[l][2]);
        }
    if (kern) {
        for (int xi = 0; xi < 16; xi++) spd_sgemm_prepack_a(kern, 0, M, C, raw + (size_t)xi * mc, C, u + (size_t)xi * st);
        spd_free(raw);
    }
    return u;
}

void spd_conv_wino_free_weights(float *u) { spd_free(u); }

const float *spd_conv_wino_cached_weights(_Atomic(float *) *slot, const spd_sgemm_kernel *kern, const float *W,
                                          int64_t M, int64_t C)
{
    float *have = atomic_load(slot);
    if (have) return have;
    float *mine = spd_conv_wino_pack_weights(kern, W, M, C);
    return mine ? spd_install_once(slot, mine) : NULL;
}

/* ---- the job --------------------------------------------------------------- */

/* A run of tiles along one tile row: image n, tile row ty, tile columns
 * [tx, tx + len), at block columns [j, j + len). */
typedef struct seg {
    int64_t n, ty, tx, len, j;
} seg;

typedef struct wino_job {
    const spd_sgemm_kernel *kern;
    spd_wino_shape s;
    int64_t OH, OW, TY, TX, T;   /* output, tiles per column and row, all tiles */
    int64_t Tb, ldv, tstride;    /* tiles per block, V's row stride, a combined row's */
    int64_t vstride, mstride;    /* floats from V[xi] to V[xi+1], and M's */
    int64_t nblocks;
    int gemm_threads; /* threads each of the 16 products may use (1 when blocks go to threads) */
    size_t ustride;
    const float *x, *u, *bias, *z;
    spd_act ac;
    float *y;
    bool avx2;
    atomic_llong next; /* the next block to take */
    atomic_int failed;
} wino_job;

/* The segments of tiles [t0, t0 + nt); returns their count. */
static int64_t block_segments(const wino_job *jb, int64_t t0, int64_t nt, seg *out)
{
    int64_t k = 0;
    for (int64_t t = t0; t < t0 + nt;) {
        const int64_t per = jb->TY * jb->TX, n = t / per, r = t % per, ty = r / jb->TX, tx = r % jb->TX;
        const int64_t len = min64(jb->TX - tx, t0 + nt - t);
        out[k++] = (seg){n, ty, tx, len, t - t0};
        t += len;
    }
    return k;
}

/* ---- portable transforms ---------------------------------------------------- */

static void in_tf_scalar(const wino_job *jb, const seg *sg, int64_t nseg, float *V)
{
    const spd_wino_shape *s = &jb->s;
    const size_t vs = (size_t)jb->vstride;
    for (int64_t c = 0; c < s->C; c++)
        for (int64_t k = 0; k < nseg; k++) {
            const seg *q = &sg[k];
            const float *xc = jb->x + (q->n * s->C + c) * s->H * s->W;
            for (int64_t i = 0; i < q->len; i++) {
                const int64_t y0 = 2 * q->ty - s->pt, x0 = 2 * (q->tx + i) - s->pl;
                float d[4][4], t[4][4];
                for (int r = 0; r < 4; r++)
                    for (int cc = 0; cc < 4; cc++) {
                        const int64_t iy = y0 + r, ix = x0 + cc;
                        d[r][cc] = iy >= 0 && iy < s->H && ix >= 0 && ix < s->W ? xc[iy * s->W + ix] : 0.0f;
                    }
                for (int cc = 0; cc < 4; cc++) { /* B^T d */
                    t[0][cc] = d[0][cc] - d[2][cc];
                    t[1][cc] = d[1][cc] + d[2][cc];
                    t[2][cc] = d[2][cc] - d[1][cc];
                    t[3][cc] = d[1][cc] - d[3][cc];
                }
                float *v = V + c * jb->ldv + q->j + i;
                for (int r = 0; r < 4; r++) { /* (B^T d) B */
                    v[(size_t)(r * 4 + 0) * vs] = t[r][0] - t[r][2];
                    v[(size_t)(r * 4 + 1) * vs] = t[r][1] + t[r][2];
                    v[(size_t)(r * 4 + 2) * vs] = t[r][2] - t[r][1];
                    v[(size_t)(r * 4 + 3) * vs] = t[r][1] - t[r][3];
                }
            }
        }
}

static void out_tf_scalar(const wino_job *jb, const seg *sg, int64_t nseg, const float *Mb)
{
    const spd_wino_shape *s = &jb->s;
    const size_t ms = (size_t)jb->mstride;
    const int64_t OH = jb->OH, OW = jb->OW, ys = s->y_image ? s->y_image : s->M * OH * OW;
    for (int64_t oc = 0; oc < s->M; oc++) {
        const float b = jb->bias ? jb->bias[oc] : 0.0f;
        for (int64_t k = 0; k < nseg; k++) {
            const seg *q = &sg[k];
            const int64_t plane = (q->n * s->M + oc) * OH * OW, yplane = q->n * ys + oc * OH * OW;
            for (int64_t i = 0; i < q->len; i++) {
                const float *mp = Mb + oc * jb->Tb + q->j + i;
                float m[16], t[2][4];
                for (int xi = 0; xi < 16; xi++) m[xi] = mp[(size_t)xi * ms];
                for (int cc = 0; cc < 4; cc++) { /* A^T m */
                    t[0][cc] = m[cc] + m[4 + cc] + m[8 + cc];
                    t[1][cc] = m[4 + cc] - m[8 + cc] - m[12 + cc];
                }
                const int64_t oy = 2 * q->ty, ox = 2 * (q->tx + i);
                for (int r = 0; r < 2 && oy + r < OH; r++) {
                    const float o[2] = {t[r][0] + t[r][1] + t[r][2], t[r][1] - t[r][2] - t[r][3]}; /* (A^T m) A */
                    for (int cc = 0; cc < 2 && ox + cc < OW; cc++) {
                        const int64_t at = (oy + r) * OW + ox + cc;
                        float v = o[cc] + b;
                        if (jb->z) v += jb->z[plane + at];
                        jb->y[yplane + at] = spd_act_scalar(&jb->ac, v);
                    }
                }
            }
        }
    }
}

/* ---- AVX2 transforms ---------------------------------------------------------- */

#if defined(__x86_64__)
#include "ops/vmath_avx2_inl.h"
#include "ops/avx2_regs.h"

#define HAVE_AVX2_TF 1

/* The even and odd elements of p[0..16): in order, or (scrambled) in the
 * order 0 1 4 5 2 3 6 7 that the in-lane shuffle leaves, one permute less
 * for each. */
INLINE void deinterleave(const float *p, __m256 *even, __m256 *odd, bool scrambled)
{
    const __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
    *even = _mm256_shuffle_ps(a, b, 0x88);
    *odd = _mm256_shuffle_ps(a, b, 0xDD);
    if (scrambled) return;
    *even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(*even), 0xD8));
    *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(*odd), 0xD8));
}

TARGET static void in_tf_avx2(const wino_job *jb, const seg *sg, int64_t nseg, float *V, float *tmp,
                              const float *zrow)
{
    const spd_wino_shape *s = &jb->s;
    const int64_t H = s->H, W = s->W, S = jb->tstride;
    const size_t vs = (size_t)jb->vstride;
    float *t0 = tmp, *t1 = tmp + S, *t2 = tmp + 2 * S, *t3 = tmp + 3 * S;
    for (int64_t c = 0; c < s->C; c++)
        for (int64_t k = 0; k < nseg; k++) {
            const seg *q = &sg[k];
            const float *xc = jb->x + (q->n * s->C + c) * H * W;
            const float *r[4];
            for (int i = 0; i < 4; i++) {
                const int64_t iy = 2 * q->ty - s->pt + i;
                r[i] = iy >= 0 && iy < H ? xc + iy * W : zrow;
            }
            /* B^T d over the segment's columns [x0, x0 + w) of X */
            const int64_t x0 = 2 * q->tx - s->pl, w = 2 * q->len + 2;
            const int64_t ka = min64(max64(-x0, 0), w), kb = max64(min64(W - x0, w), ka);
            for (int64_t e = 0; e < ka; e++) t0[e] = t1[e] = t2[e] = t3[e] = 0.0f;
            for (int64_t e = kb; e < w; e++) t0[e] = t1[e] = t2[e] = t3[e] = 0.0f;
            const float *d0 = r[0] + x0, *d1 = r[1] + x0, *d2 = r[2] + x0, *d3 = r[3] + x0;
            int64_t e = ka;
            for (; e + 8 <= kb; e += 8) {
                const __m256 a0 = _mm256_loadu_ps(d0 + e), a1 = _mm256_loadu_ps(d1 + e);
                const __m256 a2 = _mm256_loadu_ps(d2 + e), a3 = _mm256_loadu_ps(d3 + e);
                _mm256_storeu_ps(t0 + e, _mm256_sub_ps(a0, a2));
                _mm256_storeu_ps(t1 + e, _mm256_add_ps(a1, a2));
                _mm256_storeu_ps(t2 + e, _mm256_sub_ps(a2, a1));
                _mm256_storeu_ps(t3 + e, _mm256_sub_ps(a1, a3));
            }
            for (; e < kb; e++) {
                t0[e] = d0[e] - d2[e];
                t1[e] = d1[e] + d2[e];
                t2[e] = d2[e] - d1[e];
                t3[e] = d1[e] - d3[e];
            }
            /* (B^T d) B, 8 tiles at a time: tile i's columns are 2i .. 2i+3.
             * A whole vector of tiles goes to V scrambled (the output
             * transform expects it so); a last, partial one in order. */
            float *v = V + c * jb->ldv + q->j;
            for (int64_t g = 0; g < q->len; g += 8) {
                const float *rows[4] = {t0 + 2 * g, t1 + 2 * g, t2 + 2 * g, t3 + 2 * g};
                const bool whole = g + 8 <= q->len;
                for (int i = 0; i < 4; i++) {
                    __m256 ev, od, ev2, od2;
                    deinterleave(rows[i], &ev, &od, whole);
                    deinterleave(rows[i] + 2, &ev2, &od2, whole);
                    float *vi = v + g + (size_t)(i * 4) * vs;
                    _mm256_storeu_ps(vi, _mm256_sub_ps(ev, ev2));
                    _mm256_storeu_ps(vi + vs, _mm256_add_ps(od, ev2));
                    _mm256_storeu_ps(vi + 2 * vs, _mm256_sub_ps(ev2, od));
                    _mm256_storeu_ps(vi + 3 * vs, _mm256_sub_ps(od, od2));
                }
            }
        }
}

/* Stores one output row's 16 values (lo, hi) at y, n of them valid, after
 * the residual and the activation. */
INLINE void emit_row(__m256 lo, __m256 hi, float *y, const float *z, int64_t n, spd_act_kind kind, __m256 a,
                     __m256 b)
{
    if (n >= 16) {
        if (z) {
            lo = _mm256_add_ps(lo, _mm256_loadu_ps(z));
            hi = _mm256_add_ps(hi, _mm256_loadu_ps(z + 8));
        }
        _mm256_storeu_ps(y, act8(kind, lo, a, b));
        _mm256_storeu_ps(y + 8, act8(kind, hi, a, b));
        return;
    }
    const __m256i ml = lanes8(n), mh = lanes8(n - 8);
    if (z) {
        lo = _mm256_add_ps(lo, _mm256_maskload_ps(z, ml));
        hi = _mm256_add_ps(hi, _mm256_maskload_ps(z + 8, mh));
    }
    _mm256_maskstore_ps(y, ml, act8(kind, lo, a, b));
    if (n > 8) _mm256_maskstore_ps(y + 8, mh, act8(kind, hi, a, b));
}

TARGET static void out_tf_avx2(const wino_job *jb, const seg *sg, int64_t nseg, const float *Mb)
{
    const spd_wino_shape *s = &jb->s;
    const size_t ms = (size_t)jb->mstride;
    const int64_t OH = jb->OH, OW = jb->OW, ys = s->y_image ? s->y_image : s->M * OH * OW;
    spd_act_kind kind = jb->ac.kind;
    if (kind == SPD_ACT_SILU && jb->ac.a == 1.0f) kind = SPD_ACT_SILU1;
    const __m256 a = _mm256_set1_ps(jb->ac.a), b = _mm256_set1_ps(jb->ac.b);
    for (int64_t oc = 0; oc < s->M; oc++) {
        const __m256 bias = _mm256_set1_ps(jb->bias ? jb->bias[oc] : 0.0f);
        for (int64_t k = 0; k < nseg; k++) {
            const seg *q = &sg[k];
            const int64_t at = (2 * q->ty) * OW + 2 * q->tx;
            float *y = jb->y + q->n * ys + oc * OH * OW + at;
            const float *z = jb->z ? jb->z + (q->n * s->M + oc) * OH * OW + at : NULL;
            const bool two = 2 * q->ty + 1 < OH;
            const float *mp = Mb + oc * jb->Tb + q->j;
            for (int64_t g = 0; g < q->len; g += 8) {
                __m256 m[16];
                for (int xi = 0; xi < 16; xi++) m[xi] = _mm256_loadu_ps(mp + g + (size_t)xi * ms);
                __m256 r0[4], r1[4];
                for (int cc = 0; cc < 4; cc++) { /* A^T m */
                    r0[cc] = _mm256_add_ps(_mm256_add_ps(m[cc], m[4 + cc]), m[8 + cc]);
                    r1[cc] = _mm256_sub_ps(_mm256_sub_ps(m[4 + cc], m[8 + cc]), m[12 + cc]);
                }
                /* (A^T m) A, + bias */
                const __m256 o00 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(r0[0], r0[1]), r0[2]), bias);
                const __m256 o01 = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(r0[1], r0[2]), r0[3]), bias);
                const int64_t n = min64(2 * (q->len - g), OW - 2 * (q->tx + g));
                /* interleaved, the two columns make the output row: for a
                 * scrambled whole vector (tiles 0 1 4 5 2 3 6 7) the in-lane
                 * unpacks give tiles 0-3 and 4-7 in order */
                const bool whole = g + 8 <= q->len;
                __m256 lo = _mm256_unpacklo_ps(o00, o01), hi = _mm256_unpackhi_ps(o00, o01);
                if (whole)
                    emit_row(lo, hi, y + 2 * g, z ? z + 2 * g : NULL, n, kind, a, b);
                else
                    emit_row(_mm256_permute2f128_ps(lo, hi, 0x20), _mm256_permute2f128_ps(lo, hi, 0x31), y + 2 * g,
                             z ? z + 2 * g : NULL, n, kind, a, b);
                if (!two) continue;
                const __m256 o10 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(r1[0], r1[1]), r1[2]), bias);
                const __m256 o11 = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(r1[1], r1[2]), r1[3]), bias);
                lo = _mm256_unpacklo_ps(o10, o11);
                hi = _mm256_unpackhi_ps(o10, o11);
                if (whole)
                    emit_row(lo, hi, y + OW + 2 * g, z ? z + OW + 2 * g : NULL, n, kind, a, b);
                else
                    emit_row(_mm256_permute2f128_ps(lo, hi, 0x20), _mm256_permute2f128_ps(lo, hi, 0x31),
                             y + OW + 2 * g, z ? z + OW + 2 * g : NULL, n, kind, a, b);
            }
        }
    }
}
#endif

/* ---- blocks ---------------------------------------------------------------------- */

/* A task's scratch: V, M, the combined rows, a zero row, the segments. */
typedef struct scratch {
    float *V, *M, *tmp, *zrow;
    seg *segs;
} scratch; /* carved from the thread's SPD_SCRATCH_CONV_TASK */

static size_t up64(size_t n) { return (n + 63) / 64 * 64; }

static bool scratch_alloc(const wino_job *jb, scratch *sc)
{
    const size_t v = up64((size_t)(16 * jb->vstride) * sizeof(float));
    const size_t m = up64(((size_t)(16 * jb->mstride) + 8) * sizeof(float));
    const size_t t = up64((size_t)(4 * jb->tstride) * sizeof(float));
    const size_t zr = up64((size_t)jb->s.W * sizeof(float));
    const size_t sg = (size_t)(jb->Tb + 1) * sizeof(seg);
    char *p = spd_scratch(SPD_SCRATCH_CONV_TASK, v + m + t + zr + sg);
    if (!p) return false;
    sc->V = (float *)p;
    sc->M = (float *)(p + v);
    sc->tmp = (float *)(p + v + m);
    sc->zrow = (float *)(p + v + m + t);
    sc->segs = (seg *)(p + v + m + t + zr);
    memset(sc->tmp, 0, t + zr); /* the combined rows' slack is read (into lanes that are dropped) */
    return true;
}

static bool run_block(wino_job *jb, scratch *sc, int64_t blk)
{
    const spd_wino_shape *s = &jb->s;
    const int64_t t0 = blk * jb->Tb, nt = min64(jb->Tb, jb->T - t0);
    const int64_t nseg = block_segments(jb, t0, nt, sc->segs);
#ifdef HAVE_AVX2_TF
    if (jb->avx2)
        in_tf_avx2(jb, sc->segs, nseg, sc->V, sc->tmp, sc->zrow);
    else
#endif
        in_tf_scalar(jb, sc->segs, nseg, sc->V);
    for (int xi = 0; xi < 16; xi++) {
        const float *u = jb->u + (size_t)xi * jb->ustride;
        const spd_gemm_a A = {.trans = 0, .p = jb->kern ? NULL : u, .ld = s->C, .packed = jb->kern ? u : NULL};
        const spd_gemm_b B = {.trans = 0, .p = sc->V + (size_t)(xi * jb->vstride), .ld = jb->ldv, .in_place = 1};
        if (spd_gemm_run(jb->kern, s->M, nt, s->C, 1.0f, &A, &B, 0.0f, sc->M + (size_t)(xi * jb->mstride), jb->Tb,
                         NULL, jb->gemm_threads) != SPD_OK) {
            spd_error_clear();
            return false;
        }
    }
#ifdef HAVE_AVX2_TF
    if (jb->avx2)
        out_tf_avx2(jb, sc->segs, nseg, sc->M);
    else
#endif
        out_tf_scalar(jb, sc->segs, nseg, sc->M);
    return true;
}

/* A worker: takes blocks until none are left. */
static void wino_task(void *ctx, int64_t t)
{
    (void)t;
    wino_job *jb = ctx;
    scratch sc;
    if (!scratch_alloc(jb, &sc)) {
        atomic_store(&jb->failed, 1);
        return;
    }
    for (int64_t b; (b = atomic_fetch_add(&jb->next, 1)) < jb->nblocks;)
        if (!run_block(jb, &sc, b)) atomic_store(&jb->failed, 1);
}

/* n floats rounded up to an odd number of cache lines: the transforms
 * touch all 16 matrices of V or M at once, and at a stride of a multiple of
 * 4 KiB those 16 streams would share one set of the 8-way L1. */
static int64_t spread(int64_t n)
{
    n = cdiv(n, 16) * 16;
    return n / 16 % 2 ? n : n + 16;
}

/* Tiles per block: at most 128 (large blocks were measured as fast as or
 * faster than blocks sized to keep V and M in L2: fewer GEMM calls, U read
 * fewer times), and a whole number of the kernel's nr-wide column panels.
 * A part-filled panel costs nearly a full one: 128->32 channels at 56x56
 * (784 tiles) took 0.93 ms in blocks of 48 tiles (a panel and a half) and
 * 0.76 in blocks of 64 at 1 thread. Blocks in whole panels against the old
 * choice (which counted a half-empty panel as half, and made 79-tile
 * blocks at 2 threads, 112 at 1): that layer at 2 threads 0.82x, resnet50's
 * 64->64 at 56x56 0.85x; densenet121 0.96x, resnet50 0.97x, googlenet 0.98x
 * (1 thread: 0.98-1.0x). */
#define WINO_TB_MAX 128
#define WINO_SIM_THREADS 64 /* makespan follows at most this many */

/* What a block of tb tiles costs, in multiply-adds: its 16 products over
 * whole nr-wide column panels, and the transforms, some hundreds of
 * operations per tile and channel. */
#define WINO_TF_COST 200.0

static double block_cost(int64_t tb, int64_t C, int64_t M, int64_t nr)
{
    return (double)(cdiv(tb, nr) * nr) * 16.0 * (double)C * (double)M + (double)tb * WINO_TF_COST * (double)(C + M);
}

/* How long the threads take over T tiles in blocks of tb, each taking the
 * next block as it finishes one (blocks in order, the last one short). */
static double makespan(int64_t T, int64_t tb, int threads, int64_t C, int64_t M, int64_t nr)
{
    double load[WINO_SIM_THREADS] = {0};
    if (threads > WINO_SIM_THREADS) threads = WINO_SIM_THREADS;
    for (int64_t t0 = 0; t0 < T; t0 += tb) {
        int least = 0;
        for (int i = 1; i < threads; i++)
            if (load[i] < load[least]) least = i;
        load[least] += block_cost(min64(tb, T - t0), C, M, nr);
    }
    double most = 0;
    for (int i = 0; i < threads; i++) most = load[i] > most ? load[i] : most;
    return most;
}

/* The block size, in whole panels, whose blocks the threads finish first;
 * of two within 0.1%, the larger. Balance counts as much as the panels:
 * resnet50's 128->128 at 28x28 (196 tiles) in blocks of 128 (128 + 68)
 * ran 1.11x as long at 2 threads as in blocks of 96 (96 + 96 + 4). */
static int64_t choose_tb(int64_t T, int threads, int64_t C, int64_t M, int64_t nr)
{
    int64_t best_tb = nr;
    double best = -1;
    for (int64_t tb = nr; tb <= max64(WINO_TB_MAX, nr); tb += nr) {
        const double cost = makespan(T, tb, threads, C, M, nr);
        if (best < 0 || cost <= best * 1.001) {
            best = cost < best || best < 0 ? cost : best;
            best_tb = tb;
        }
        if (tb >= T) break;
    }
    return best_tb;
}

spd_status spd_conv_wino(const spd_sgemm_kernel *kern, const spd_wino_shape *s, const float *x, const float *u,
                         const float *bias, const float *z, const spd_act *ac, float *y, int threads)
{
    wino_job jb = {.kern = kern, .s = *s, .x = x, .u = u, .bias = bias, .z = z, .y = y};
    jb.OH = s->H + s->pt + s->pb - 2;
    jb.OW = s->W + s->pl + s->pr - 2;
    if (s->N <= 0 || jb.OH <= 0 || jb.OW <= 0 || s->M <= 0) return SPD_OK;
    jb.TY = cdiv(jb.OH, 2);
    jb.TX = cdiv(jb.OW, 2);
    jb.T = s->N * jb.TY * jb.TX;
    if (threads < 1) threads = 1;
    /* Too few tiles for two 16-tile blocks per thread (a 7x7 output): one
     * block, its products split over the threads by rows of U (resnet50's
     * 7x7 stage ran on one thread: 2.1 -> 1.2 ms at 2 threads). With 49
     * tiles (14x14) the blocks measured as fast. */
    const bool shared = threads > 1 && cdiv(jb.T, 16) < 2 * threads;
    jb.gemm_threads = shared ? threads : 1;
    jb.Tb = shared ? cdiv(jb.T, 16) * 16 : choose_tb(jb.T, threads, s->C, s->M, kern ? kern->nr : 16);
    jb.ldv = jb.Tb + 16; /* room for a partial vector's extra lanes; rows on cache lines (B read in place) */
    jb.tstride = 2 * jb.Tb + 24;
    jb.vstride = spread(s->C * jb.ldv);
    jb.mstride = spread(s->M * jb.Tb);
    jb.nblocks = cdiv(jb.T, jb.Tb);
    jb.ustride = u_stride(kern, s->M, s->C);
    jb.ac = ac ? *ac : (spd_act){SPD_ACT_NONE, 0, 0};
#ifdef HAVE_AVX2_TF
    jb.avx2 = spd_vmath_avx2() && !atomic_load(&g_force_scalar);
#endif
    atomic_init(&jb.next, 0);
    atomic_init(&jb.failed, 0);
    const int64_t tasks = shared ? 1 : min64(threads, jb.nblocks);
    if (tasks > 1)
        spd_parallel_for(tasks, wino_task, &jb);
    else
        wino_task(&jb, 0);
    if (atomic_load(&jb.failed))
        return spd_errorf(SPD_ERR_NOMEM, "out of memory for Winograd scratch (%lld tiles of %lld -> %lld channels)",
                          (long long)jb.Tb, (long long)s->C, (long long)s->M);
    return SPD_OK;
}
