/* The B operand of a 2-D convolution's GEMM (the column matrix), packed
 * straight from a padded, phase-split copy of the input.
 *
 * Column matrix row p = (c, ky, kx), column o = (oy, ox), element
 *   xpad[c][oy*sy + ky*dy][ox*sx + kx*dx]     (xpad: X with its zero padding).
 * Splitting xpad into sy*sx phase planes, plane (py, px) holding
 * xpad[i*sy + py][j*sx + px], makes that element
 *   plane(c, (ky*dy) % sy, (kx*dx) % sx)[oy + ky*dy/sy][ox + kx*dx/sx],
 * so for a fixed row p consecutive output columns of one output line are
 * consecutive floats of one plane, at a per-row offset. Packing a B panel
 * is then a copy of runs per row, with no padding tests and no index
 * arithmetic per element; the copy of X costs one pass over the input,
 * against the GEMM's KH*KW*M multiply-adds per input element. */
#ifndef SPD_OPS_CONV_PACK_H
#define SPD_OPS_CONV_PACK_H

#include <stdint.h>

#include "util/status.h"

typedef struct spd_conv2d_shape {
    int64_t C;                    /* channels of one group */
    int64_t H, W, OH, OW, KH, KW; /* input, output and kernel extents */
    int64_t sy, sx, dy, dx, pt, pl; /* strides, dilations, top/left padding */
} spd_conv2d_shape;

/* Floats after the planes of a copy (own), zero: reads of up to 32 floats
 * from any row offset and virtual column stay inside (ops/conv_implicit.h). */
#define SPD_CONV2D_SLACK 64

typedef struct spd_conv2d_src {
    spd_conv2d_shape s;
    int64_t Hh, Wh;   /* phase plane extents */
    int64_t nphase;   /* sy * sx */
    unsigned char used[64]; /* phases any tap reads (at most 8 x 8 tracked; more: all) */
    const float *buf; /* C x nphase planes of Hh x Wh: own, or X itself */
    float *own;       /* the copy (thread scratch), NULL when X already has the planes' layout */
    int64_t *off;     /* per column-matrix row: its offset in buf */
    int64_t nr;       /* the micro-kernel's panel width */
    /* Stride 2 on planes too narrow for the implicit GEMM: no planes; the
     * packer reads X itself (buf), splitting each run of 32 floats into
     * its even columns with one permute */
    int direct;
} spd_conv2d_src;

/* Whether the phase-split packer handles this geometry (its copy stays
 * within a small multiple of the input). */
int spd_conv2d_src_fits(const spd_conv2d_shape *s);
/* Takes the copy and the row offsets for one image's group from the
 * calling thread's scratch (util/scratch.h): one source per thread at a
 * time, released by spd_conv2d_src_free. With allow_direct and AVX-512,
 * a stride-2 undilated kernel whose planes would be under 32 columns wide
 * takes no copy (direct; SPEEDSTER_S2_DIRECT=0 in the environment turns
 * that off, to compare). */
spd_status spd_conv2d_src_init(spd_conv2d_src *src, const spd_conv2d_shape *s, int64_t nr, int allow_direct);
/* Copies one image's group of channels x (C x H x W) into the planes,
 * split over `threads` when it is large; where the planes would be a copy
 * of x (stride 1, no padding, every input row and column read: pointwise
 * kernels) x itself is used, and must outlive the packing. */
void spd_conv2d_src_fill(spd_conv2d_src *src, const float *x, int threads);
void spd_conv2d_src_free(spd_conv2d_src *src);
/* The spd_gemm_b packer: column-matrix rows [pc, pc+k) and columns
 * [jc, jc+n) into nr-wide panels (columns past n zero). ctx: the src. */
void spd_conv2d_pack(const void *ctx, int64_t pc, int64_t k, int64_t jc, int64_t n, float *dst);

#endif
