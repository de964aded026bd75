/* The recurrent product of RNN/GRU/LSTM for a small batch with AVX-512F:
 * C[b][0:N] += sum_k h[b][k] * rt[k][0:N], as rnn_avx2.c does it with
 * 16-lane vectors. A 128-wide block of a C row stays in eight registers
 * while k runs (eight chains cover the FMA latency); a 64-wide one would
 * leave four. Called only when spd_vmath_avx512() (rnn.c dispatches). */
#include "ops/rnn_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "ops/vmath_avx512_inl.h"

__attribute__((target("avx512f"))) void spd_rnn_rec_acc_avx512(int64_t B, int64_t N, int64_t H, const float *h,
                                                                const float *rt, int64_t ldrt, float *C,
                                                                int64_t ldc)
{
    for (int64_t b = 0; b < B; b++) {
        const float *hb = h + b * H;
        float *cb = C + b * ldc;
        int64_t n = 0;
        for (; n + 128 <= N; n += 128) {
            __m512 a0 = _mm512_loadu_ps(cb + n), a1 = _mm512_loadu_ps(cb + n + 16);
            __m512 a2 = _mm512_loadu_ps(cb + n + 32), a3 = _mm512_loadu_ps(cb + n + 48);
            __m512 a4 = _mm512_loadu_ps(cb + n + 64), a5 = _mm512_loadu_ps(cb + n + 80);
            __m512 a6 = _mm512_loadu_ps(cb + n + 96), a7 = _mm512_loadu_ps(cb + n + 112);
            for (int64_t k = 0; k < H; k++) {
                const __m512 hk = _mm512_set1_ps(hb[k]);
                const float *r = rt + k * ldrt + n;
                a0 = _mm512_fmadd_ps(hk, _mm512_loadu_ps(r), a0);
                a1 = _mm512_fmadd_ps(hk, _mm512_loadu_ps(r + 16), a1);
                a2 = _mm512_fmadd_ps(hk, _mm512_loadu_ps(r + 32), a2);
                a3 = _mm512_fmadd_ps(hk, _mm512_loadu_ps(r + 48), a3);
                a4 = _mm512_fmadd_ps(hk, _mm512_loadu_ps(r + 64), a4);
                a5 = _mm512_fmadd_ps(hk, _mm512_loadu_ps(r + 80), a5);
                a6 = _mm512_fmadd_ps(hk, _mm512_loadu_ps(r + 96), a6);
                a7 = _mm512_fmadd_ps(hk, _mm512_loadu_ps(r + 112), a7);
            }
            _mm512_storeu_ps(cb + n, a0);
            _mm512_storeu_ps(cb + n + 16, a1);
            _mm512_storeu_ps(cb + n + 32, a2);
            _mm512_storeu_ps(cb + n + 48, a3);
            _mm512_storeu_ps(cb + n + 64, a4);
            _mm512_storeu_ps(cb + n + 80, a5);
            _mm512_storeu_ps(cb + n + 96, a6);
            _mm512_storeu_ps(cb + n + 112, a7);
        }
        /* the rest 16 at a time, two k parities apart for two chains each */
        for (; n < N; n += 16) {
            const __mmask16 m = N - n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (N - n)) - 1u);
            __m512 a = _mm512_maskz_loadu_ps(m, cb + n), e = _mm512_setzero_ps();
            int64_t k = 0;
            for (; k + 2 <= H; k += 2) {
                a = _mm512_fmadd_ps(_mm512_set1_ps(hb[k]), _mm512_maskz_loadu_ps(m, rt + k * ldrt + n), a);
                e = _mm512_fmadd_ps(_mm512_set1_ps(hb[k + 1]), _mm512_maskz_loadu_ps(m, rt + (k + 1) * ldrt + n), e);
            }
            if (k < H) a = _mm512_fmadd_ps(_mm512_set1_ps(hb[k]), _mm512_maskz_loadu_ps(m, rt + k * ldrt + n), a);
            _mm512_mask_storeu_ps(cb + n, m, _mm512_add_ps(a, e));
        }
    }
}

/* spd_lstm_cell_avx2 in 16 lanes, the same operations (sigmoid16 and
 * tanh16 are sigmoid8 and tanh8 widened), so the same results; H % 16 ==
 * 0. The cell was 15% of a 64-unit LSTM's time in 8 lanes. */
__attribute__((target("avx512f,avx2,fma"))) void spd_lstm_cell_avx512(int64_t H, const float *gi, const float *go,
                                                                       const float *gf, const float *gc, float *c,
                                                                       float *h)
{
    for (int64_t j = 0; j < H; j += 16) {
        const __m512 i = sigmoid16(_mm512_loadu_ps(gi + j)), f = sigmoid16(_mm512_loadu_ps(gf + j));
        const __m512 g = tanh16(_mm512_loadu_ps(gc + j));
        _mm512_storeu_ps(c + j, _mm512_add_ps(_mm512_mul_ps(f, _mm512_loadu_ps(c + j)), _mm512_mul_ps(i, g)));
        _mm512_storeu_ps(h + j, sigmoid16(_mm512_loadu_ps(go + j)));
    }
    for (int64_t j = 0; j < H; j += 16)
        _mm512_storeu_ps(h + j, _mm512_mul_ps(_mm512_loadu_ps(h + j), tanh16(_mm512_loadu_ps(c + j))));
}
#else
void spd_lstm_cell_avx512(int64_t H, const float *gi, const float *go, const float *gf, const float *gc, float *c,
                          float *h)
{
    (void)H, (void)gi, (void)go, (void)gf, (void)gc, (void)c, (void)h;
}
void spd_rnn_rec_acc_avx512(int64_t B, int64_t N, int64_t H, const float *h, const float *rt, int64_t ldrt, float *C,
                            int64_t ldc)
{
    (void)B, (void)N, (void)H, (void)h, (void)rt, (void)ldrt, (void)C, (void)ldc;
}
#endif
