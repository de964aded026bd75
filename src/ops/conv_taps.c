/* 2-D convolution tap by tap (ops/conv_taps.h). Per tap (ky, kx) the
 * output positions whose input lies inside the plane form a rectangle
 * [oy0, oy1) x [ox0, ox1); X's part under it is copied into a C x rect
 * matrix and multiplied by the tap's M x C weights. The first tap that
 * covers the whole output writes Y with the bias; the others add to it,
 * straight into Y when their rectangle spans whole rows (a block of each
 * output plane), else through a scratch product. The residual and the
 * activation follow over the finished planes. */
#include "ops/conv_taps.h"

#include <string.h>

#include "util/alloc.h"
#include "util/scratch.h"

/* Output positions o in [0, n) with 0 <= o * s - p + k * d < size: [*lo, *hi). */
static void live_range(int64_t n, int64_t size, int64_t s, int64_t p, int64_t k, int64_t d, int64_t *lo, int64_t *hi)
{
    const int64_t off = k * d - p; /* input index of output 0 */
    int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t b = size - 1 - off < 0 ? 0 : (size - 1 - off) / s + 1;
    if (a > n) a = n;
    if (b > n) b = n;
    *lo = a;
    *hi = b > a ? b : a;
}

typedef struct tap_rect {
    int64_t oy0, oy1, ox0, ox1;
} tap_rect;

static tap_rect rect_of(const spd_taps_shape *s, int64_t ky, int64_t kx)
{
    tap_rect r;
    live_range(s->OH, s->H, s->sy, s->pt, ky, s->dy, &r.oy0, &r.oy1);
    live_range(s->OW, s->W, s->sx, s->pl, kx, s->dx, &r.ox0, &r.ox1);
    return r;
}

static int64_t rect_n(const tap_rect *r) { return (r->oy1 - r->oy0) * (r->ox1 - r->ox0); }

bool spd_conv_taps_fit(const spd_taps_shape *s)
{
    if (s->OH <= 0 || s->OW <= 0 || s->KH * s->KW < 2 || s->C <= 0 || s->M <= 0) return false;
    int64_t live = 0;
    for (int64_t ky = 0; ky < s->KH; ky++)
        for (int64_t kx = 0; kx < s->KW; kx++) {
            const tap_rect r = rect_of(s, ky, kx);
            live += rect_n(&r);
        }
    return 2 * live <= s->KH * s->KW * s->OH * s->OW;
}

size_t spd_conv_taps_packed_floats(const spd_sgemm_kernel *kern, const spd_taps_shape *s)
{
    return spd_sgemm_prepacked_a_floats(kern, s->M, s->C) * (size_t)(s->KH * s->KW);
}

bool spd_conv_taps_pack(const spd_sgemm_kernel *kern, const spd_taps_shape *s, const float *w, float *dst)
{
    const int64_t taps = s->KH * s->KW, MC = s->M * s->C;
    const size_t blk = spd_sgemm_prepacked_a_floats(kern, s->M, s->C);
    /* the packer wants a unit stride along M or C; a tap's weights lie
     * KH x KW apart */
    float *stage = spd_malloc((size_t)MC * sizeof(float) + 1);
    if (!stage) return false;
    for (int64_t t = 0; t < taps; t++) {
        for (int64_t i = 0; i < MC; i++) stage[i] = w[i * taps + t];
        spd_sgemm_prepack_a(kern, 0, s->M, s->C, stage, s->C, dst + (size_t)t * blk);
    }
    spd_free(stage);
    return true;
}

/* X's part under rectangle r for tap (ky, kx): C rows of rect_n(r). */
static void gather(const spd_taps_shape *s, const float *x, int64_t ky, int64_t kx, const tap_rect *r, float *b)
{
    const int64_t w = r->ox1 - r->ox0, n = rect_n(r);
    for (int64_t c = 0; c < s->C; c++) {
        const float *xc = x + c * s->H * s->W;
        float *bc = b + c * n;
        for (int64_t oy = r->oy0; oy < r->oy1; oy++, bc += w) {
            const float *src = xc + (oy * s->sy - s->pt + ky * s->dy) * s->W + r->ox0 * s->sx - s->pl + kx * s->dx;
            if (s->sx == 1) {
                memcpy(bc, src, (size_t)w * sizeof(float));
            } else {
                for (int64_t j = 0; j < w; j++) bc[j] = src[j * s->sx];
            }
        }
    }
}

spd_status spd_conv_taps(const spd_sgemm_kernel *kern, const spd_taps_shape *s, const float *wpack, const float *x,
                         const float *bias, const float *z, const spd_act *ac, float *y, int threads)
{
    const int64_t taps = s->KH * s->KW, plane = s->OH * s->OW;
    const size_t blk = spd_sgemm_prepacked_a_floats(kern, s->M, s->C);
    int64_t first = -1, most = 0;
    for (int64_t t = 0; t < taps; t++) {
        const tap_rect r = rect_of(s, t / s->KW, t % s->KW);
        if (first < 0 && rect_n(&r) == plane) first = t;
        if (rect_n(&r) > most) most = rect_n(&r);
    }
    float *b = spd_scratch(SPD_SCRATCH_CONV_SRC, (size_t)(s->C * most) * sizeof(float) + 64);
    float *part = spd_scratch(SPD_SCRATCH_CONV_OUT, (size_t)(s->M * most) * sizeof(float) + 64);
    if (!b || !part)
        return spd_errorf(SPD_ERR_NOMEM, "out of memory for a %lld x %lld tap of a convolution", (long long)s->C,
                          (long long)most);
    if (first < 0) /* no tap covers the whole output: start from the bias */
        for (int64_t m = 0; m < s->M; m++)
            for (int64_t i = 0; i < plane; i++) y[m * plane + i] = bias ? bias[m] : 0.0f;
    for (int64_t k = 0; k < taps; k++) {
        const int64_t t = first < 0 ? k : k == 0 ? first : k <= first ? k - 1 : k;
        const tap_rect r = rect_of(s, t / s->KW, t % s->KW);
        const int64_t n = rect_n(&r);
        if (n == 0) continue;
        gather(s, x, t / s->KW, t % s->KW, &r, b);
        const spd_gemm_a A = {.trans = 0, .p = NULL, .ld = s->C, .packed = wpack + (size_t)t * blk};
        const spd_gemm_b B = {.trans = 0, .p = b, .ld = n};
        const bool opens = t == first, rows = r.ox0 == 0 && r.ox1 == s->OW;
        const spd_gemm_epi epi = {.row_bias = opens ? bias : NULL};
        spd_status st;
        if (rows) { /* whole rows: a block of each plane, added in place */
            st = spd_gemm_run(kern, s->M, n, s->C, 1.0f, &A, &B, opens ? 0.0f : 1.0f, y + r.oy0 * s->OW, plane,
                              &epi, threads);
        } else {
            st = spd_gemm_run(kern, s->M, n, s->C, 1.0f, &A, &B, 0.0f, part, n, &epi, threads);
            const int64_t w = r.ox1 - r.ox0;
            for (int64_t m = 0; m < s->M && st == SPD_OK; m++)
                for (int64_t oy = r.oy0; oy < r.oy1; oy++) {
                    float *yr = y + m * plane + oy * s->OW + r.ox0;
                    const float *pr = part + m * n + (oy - r.oy0) * w;
                    for (int64_t j = 0; j < w; j++) yr[j] += pr[j];
                }
        }
        if (st != SPD_OK) return st;
    }
    if (z || (ac && ac->kind != SPD_ACT_NONE)) {
        const spd_act none = {SPD_ACT_NONE, 0, 0};
        for (int64_t m = 0; m < s->M; m++)
            spd_vact_bias_f32(ac ? ac : &none, y + m * plane, plane, 0.0f, z ? z + m * plane : NULL);
    }
    return SPD_OK;
}
