/* The recurrent product of RNN/GRU/LSTM for a small batch with AVX2+FMA:
 * C[b][0:N] += sum_k h[b][k] * rt[k][0:N]. Each 64-wide block of a C row
 * stays in eight registers while k runs, so C is read and written once per
 * block instead of once per k; with rev the blocks and k go in the
 * opposite order (see rnn_avx512.c). Called only when CPUID reports AVX2
 * and FMA (rnn.c dispatches). */
#include "ops/rnn_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "ops/vmath_avx2_inl.h"

#define TGT __attribute__((target("avx2,fma")))

#define RB_NAME block64
#define RB_TARGET TGT
#define RB_VEC __m256
#define RB_VW 8
#define RB_LOAD(p) _mm256_loadu_ps(p)
#define RB_STORE(p, v) _mm256_storeu_ps(p, v)
#define RB_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define RB_BCAST(p) _mm256_broadcast_ss(p)
#include "ops/rnn_block.inc"

/* The same for the 8 columns from n, or the single column n (w 1). */
TGT static inline __attribute__((always_inline)) void block8(const float *hb, int64_t H, const float *rt, int64_t ldrt,
                                                             float *cb, int64_t n, int w, int rev)
{
    if (w == 8) {
        __m256 a = _mm256_loadu_ps(cb + n);
        for (int64_t i = 0; i < H; i++) {
            const int64_t k = rev ? H - 1 - i : i;
            a = _mm256_fmadd_ps(_mm256_broadcast_ss(hb + k), _mm256_loadu_ps(rt + k * ldrt + n), a);
        }
        _mm256_storeu_ps(cb + n, a);
        return;
    }
    float a = cb[n];
    for (int64_t i = 0; i < H; i++) {
        const int64_t k = rev ? H - 1 - i : i;
        a = fmaf(hb[k], rt[k * ldrt + n], a);
    }
    cb[n] = a;
}

TGT void spd_rnn_rec_acc_avx2(int64_t B, int64_t N, int64_t H, const float *h, const float *rt, int64_t ldrt,
                              float *C, int64_t ldc, int rev)
{
    const int64_t n64 = N / 64 * 64, n8 = N / 8 * 8;
    for (int64_t b = 0; b < B; b++) {
        const float *hb = h + b * H;
        float *cb = C + b * ldc;
        if (!rev) {
            for (int64_t n = 0; n < n64; n += 64) block64(hb, H, rt, ldrt, cb, n, 0);
            for (int64_t n = n64; n < n8; n += 8) block8(hb, H, rt, ldrt, cb, n, 8, 0);
            for (int64_t n = n8; n < N; n++) block8(hb, H, rt, ldrt, cb, n, 1, 0);
        } else { /* the same blocks and k in the opposite order */
            for (int64_t n = N - 1; n >= n8; n--) block8(hb, H, rt, ldrt, cb, n, 1, 1);
            for (int64_t n = n8 - 8; n >= n64; n -= 8) block8(hb, H, rt, ldrt, cb, n, 8, 1);
            for (int64_t n = n64 - 64; n >= 0; n -= 64) block64(hb, H, rt, ldrt, cb, n, 1);
        }
    }
}
/* One LSTM step's gates for one batch entry with the default activations
 * (sigmoid, tanh, tanh), no peepholes, no clip, H a multiple of 8: i, o, f
 * (sigmoid), g (tanh), c = f c + i g, h = o tanh(c), in one pass of eight
 * units at a time. Apart the step made five calls over arrays of 64-192
 * floats, whose overhead was as large as the arithmetic. The operations
 * and roundings are those of the separate passes (sigmoid8, tanh8, a
 * product and a sum not fused), so the results are the same. */
__attribute__((target("avx2,fma"))) void spd_lstm_cell_avx2(int64_t H, const float *gi, const float *go,
                                                             const float *gf, const float *gc, float *c, float *h)
{
    /* two passes: in one, each unit's tanh(c) waited for its own sigmoids
     * and the iterations did not overlap (slower than the five calls) */
    for (int64_t j = 0; j < H; j += 8) {
        const __m256 i = sigmoid8(_mm256_loadu_ps(gi + j)), f = sigmoid8(_mm256_loadu_ps(gf + j));
        const __m256 g = tanh8(_mm256_loadu_ps(gc + j));
        _mm256_storeu_ps(c + j, _mm256_add_ps(_mm256_mul_ps(f, _mm256_loadu_ps(c + j)), _mm256_mul_ps(i, g)));
        _mm256_storeu_ps(h + j, sigmoid8(_mm256_loadu_ps(go + j)));
    }
    for (int64_t j = 0; j < H; j += 8)
        _mm256_storeu_ps(h + j, _mm256_mul_ps(_mm256_loadu_ps(h + j), tanh8(_mm256_loadu_ps(c + j))));
}
#else
void spd_lstm_cell_avx2(int64_t H, const float *gi, const float *go, const float *gf, const float *gc, float *c,
                        float *h)
{
    (void)H, (void)gi, (void)go, (void)gf, (void)gc, (void)c, (void)h;
}
void spd_rnn_rec_acc_avx2(int64_t B, int64_t N, int64_t H, const float *h, const float *rt, int64_t ldrt, float *C,
                          int64_t ldc, int rev)
{
    (void)B, (void)N, (void)H, (void)h, (void)rt, (void)ldrt, (void)C, (void)ldc, (void)rev;
}
#endif
