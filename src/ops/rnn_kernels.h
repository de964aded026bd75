/* Vector kernels of ops/rnn.c, per ISA. */
#ifndef SPD_OPS_RNN_KERNELS_H
#define SPD_OPS_RNN_KERNELS_H

#include <math.h>
#include <stdint.h>

/* C[b][0:N] += sum_k h[b][k] * rt[k][0:N] for b < B (h is B x H, rt H rows
 * of stride ldrt, C rows of stride ldc); rev: k summed in descending order
 * (the sum rounds differently), to alternate between steps, each sweep
 * then starting on the lines the last one left in L1. AVX2+FMA only. */
void spd_rnn_rec_acc_avx2(int64_t B, int64_t N, int64_t H, const float *h, const float *rt, int64_t ldrt, float *C,
                          int64_t ldc, int rev);
/* An LSTM step's state update for one batch entry from its gate sums,
 * default activations, no peepholes or clip, H % 8 == 0 (AVX2+FMA only):
 * c = sigmoid(gf) c + sigmoid(gi) tanh(gc), h = sigmoid(go) tanh(c). */
void spd_lstm_cell_avx2(int64_t H, const float *gi, const float *go, const float *gf, const float *gc, float *c,
                        float *h);
/* The same cell with AVX-512F, H % 16 == 0 (call only when
 * spd_vmath_avx512()). */
void spd_lstm_cell_avx512(int64_t H, const float *gi, const float *go, const float *gf, const float *gc, float *c,
                          float *h);
/* The recurrent product with AVX-512F, rev as above (call only when
 * spd_vmath_avx512()). */
void spd_rnn_rec_acc_avx512(int64_t B, int64_t N, int64_t H, const float *h, const float *rt, int64_t ldrt, float *C,
                            int64_t ldc, int rev);

#endif
