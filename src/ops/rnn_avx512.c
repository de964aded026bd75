/* The recurrent product of RNN/GRU/LSTM for a small batch with AVX-512F:
 * C[b][0:N] += sum_k h[b][k] * rt[k][0:N], as rnn_avx2.c does it with
 * 16-lane vectors. A 128-wide block of a C row stays in eight registers
 * while k runs (eight chains cover the FMA latency); a 64-wide one would
 * leave four. With rev the blocks and k go in the opposite order: called
 * with rev on every other step, each sweep starts on the lines the last
 * one left in L1 (R^T of a 64-unit LSTM is 64 KB against a 48 KB L1, and
 * a sweep in one order always found it gone). Called only when
 * spd_vmath_avx512() (rnn.c dispatches). */
#include "ops/rnn_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "ops/vmath_avx512_inl.h"

#define TGT __attribute__((target("avx512f")))

#define RB_NAME block128
#define RB_TARGET TGT
#define RB_VEC __m512
#define RB_VW 16
#define RB_LOAD(p) _mm512_loadu_ps(p)
#define RB_STORE(p, v) _mm512_storeu_ps(p, v)
#define RB_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define RB_BCAST(p) _mm512_set1_ps(*(p))
#include "ops/rnn_block.inc"

/* The same for the up to 16 columns from n, two k parities apart for two
 * chains. */
TGT static inline __attribute__((always_inline)) void block16(const float *hb, int64_t H, const float *rt,
                                                              int64_t ldrt, float *cb, int64_t n, int64_t N, int rev)
{
    const __mmask16 m = N - n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (N - n)) - 1u);
    __m512 a = _mm512_maskz_loadu_ps(m, cb + n), e = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= H; i += 2) {
        const int64_t k0 = rev ? H - 1 - i : i, k1 = rev ? k0 - 1 : k0 + 1;
        a = _mm512_fmadd_ps(_mm512_set1_ps(hb[k0]), _mm512_maskz_loadu_ps(m, rt + k0 * ldrt + n), a);
        e = _mm512_fmadd_ps(_mm512_set1_ps(hb[k1]), _mm512_maskz_loadu_ps(m, rt + k1 * ldrt + n), e);
    }
    if (i < H) {
        const int64_t k = rev ? 0 : i;
        a = _mm512_fmadd_ps(_mm512_set1_ps(hb[k]), _mm512_maskz_loadu_ps(m, rt + k * ldrt + n), a);
    }
    _mm512_mask_storeu_ps(cb + n, m, _mm512_add_ps(a, e));
}

TGT void spd_rnn_rec_acc_avx512(int64_t B, int64_t N, int64_t H, const float *h, const float *rt, int64_t ldrt,
                                float *C, int64_t ldc, int rev)
{
    const int64_t full = N / 128 * 128;
    for (int64_t b = 0; b < B; b++) {
        const float *hb = h + b * H;
        float *cb = C + b * ldc;
        if (!rev) {
            for (int64_t n = 0; n < full; n += 128) block128(hb, H, rt, ldrt, cb, n, 0);
            for (int64_t n = full; n < N; n += 16) block16(hb, H, rt, ldrt, cb, n, N, 0);
        } else { /* the same blocks and k in the opposite order */
            for (int64_t n = full + (N - full - 1) / 16 * 16; n >= full && n < N; n -= 16)
                block16(hb, H, rt, ldrt, cb, n, N, 1);
            for (int64_t n = full - 128; n >= 0; n -= 128) block128(hb, H, rt, ldrt, cb, n, 1);
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
                            int64_t ldc, int rev)
{
    (void)B, (void)N, (void)H, (void)h, (void)rt, (void)ldrt, (void)C, (void)ldc, (void)rev;
}
#endif
