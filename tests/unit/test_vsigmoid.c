/* The vectorised sigmoid and SiLU (x sigmoid(a x): Sigmoid, QuickGelu and
 * the Conv/Gemm epilogues) against double precision, on every ISA path this
 * CPU runs:
 *  - a dense sweep over [-110, 110] and random bit patterns: relative error
 *    where the result is a normal float, absolute error (in subnormal steps)
 *    below; the worst of each is printed;
 *  - NaN, +-inf, +-0 and the saturated ends as the scalar definition gives
 *    them;
 *  - odd lengths through spd_vact_f32 (in and out of place) and
 *    spd_vact_bias_f32 (bias, residual), so that every tail size runs.
 *
 * One line per failed check; the last line is "N checks, N failed". */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/sgemm_fast.h"
#include "ops/vmath.h"

#include "test_util.h"

/* Within a few ulp where the result is normal (1 ulp is 6e-8 to 1.2e-7
 * relative), within 2 subnormal steps below. */
#define REL_TOL 3.6e-7
#define SUB_TOL (2 * 1.4013e-45)

static double sig_d(double x) { return 1.0 / (1.0 + exp(-x)); }

/* The worst relative error where the result (and for SiLU the sigmoid in
 * it) is a normal float, and the worst absolute error below that, in units
 * of the bound there: 2 subnormal steps, times |x| + 1 for SiLU, whose
 * product carries the sigmoid's subnormal rounding into a normal range. */
typedef struct err_stats {
    double rel, rel_x, sub, sub_x;
} err_stats;

/* a = 0: sigmoid; else SiLU x sigmoid(a x). */
static void sweep(float a, const float *x, float *y, int n, err_stats *s)
{
    if (a == 0.0f) {
        spd_vsigmoid_f32(y, x, n);
    } else {
        const spd_act ac = {SPD_ACT_SILU, a, 0};
        spd_vact_f32(&ac, y, x, n);
    }
    for (int i = 0; i < n; i++) {
        const double sg = a == 0.0f ? sig_d(x[i]) : sig_d((double)(a * x[i]));
        const double want = a == 0.0f ? sg : (double)x[i] * sg;
        const double err = fabs((double)y[i] - want);
        if (sg >= FLT_MIN && fabs(want) >= FLT_MIN) {
            if (err / fabs(want) > s->rel) s->rel = err / fabs(want), s->rel_x = x[i];
        } else {
            const double u = err / (a == 0.0f ? SUB_TOL : (fabs(x[i]) + 1) * SUB_TOL);
            if (u > s->sub) s->sub = u, s->sub_x = x[i];
        }
    }
}

static void test_sweeps(void)
{
    enum { N = 1 << 21 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    const float as[] = {0.0f, 1.0f, 1.702f};
    for (size_t k = 0; k < sizeof as / sizeof as[0]; k++) {
        const float a = as[k];
        const char *name = a == 0.0f ? "sigmoid" : "silu";
        err_stats s = {0, 0, 0, 0};
        for (int i = 0; i < N; i++) x[i] = -110.0f + 220.0f * (float)i / (float)(N - 1);
        sweep(a, x, y, N, &s);
        /* random finite bit patterns: every binade, subnormal inputs too */
        for (int i = 0; i < N; i++) {
            uint32_t b;
            do b = (uint32_t)rnd(); while ((b & 0x7f800000u) == 0x7f800000u);
            memcpy(&x[i], &b, sizeof b);
        }
        sweep(a, x, y, N, &s);
        check(s.rel <= REL_TOL, "%s a=%g: max relative error %.3g at %g", name, a, s.rel, s.rel_x);
        check(s.sub <= 1.0, "%s a=%g: subnormal-range error %.3g of the bound at %g", name, a, s.sub, s.sub_x);
        printf("[%s] %s a=%g: max relative error %.3g (at %g); subnormal range %.3g of the bound\n", g_label, name, a,
               s.rel, s.rel_x, s.sub);
    }
    free(x);
    free(y);
}

static int same(float a, float b) { return (isnan(a) && isnan(b)) || (a == b && signbit(a) == signbit(b)); }

static void test_specials(void)
{
    const float sp[] = {NAN, -NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1e-40f, -1e-40f, 17.0f, 88.8f, 1e30f, FLT_MAX,
                        -17.0f, -87.0f, -87.5f, -103.0f, -103.9f, -104.5f, -200.0f, -1e30f, -FLT_MAX};
    enum { NS = (int)(sizeof sp / sizeof sp[0]) };
    float out[NS];
    spd_vsigmoid_f32(out, sp, NS);
    for (int i = 0; i < NS; i++) {
        const float want = spd_act_scalar(&(spd_act){SPD_ACT_SIGMOID, 0, 0}, sp[i]);
        const int ok = same(out[i], want) || (!isnan(want) && fabs((double)out[i] - want) <= SUB_TOL) ||
                       (!isnan(want) && fabs((double)out[i] - want) <= REL_TOL * fabsf(want));
        check(ok, "sigmoid(%g) = %g, want %g", sp[i], out[i], want);
    }
    const spd_act silu = {SPD_ACT_SILU, 1.0f, 0};
    spd_vact_f32(&silu, out, sp, NS);
    for (int i = 0; i < NS; i++) {
        const float want = spd_act_scalar(&silu, sp[i]);
        /* below -87 the product carries the sigmoid's subnormal rounding */
        const double tol = sp[i] < -87.0f ? fabs((double)sp[i]) * SUB_TOL : REL_TOL * fabsf(want);
        const int ok = same(out[i], want) || (!isnan(want) && fabs((double)out[i] - want) <= tol);
        check(ok, "silu(%g) = %g, want %g", sp[i], out[i], want);
    }
}

static int close_to(float got, float want)
{
    if (isnan(want) || isnan(got) || isinf(want)) return isnan(want) ? isnan(got) : got == want;
    const double d = fabs((double)got - want);
    return d <= 4.8e-7 * fabsf(want) || d <= 1e-37;
}

static void test_lengths(void)
{
    const spd_act acts[] = {{SPD_ACT_SIGMOID, 0, 0}, {SPD_ACT_SILU, 1.0f, 0}, {SPD_ACT_SILU, 1.702f, 0}};
    float x[77], y[77], z[77];
    for (size_t k = 0; k < sizeof acts / sizeof acts[0]; k++) {
        const spd_act *ac = &acts[k];
        for (int n = 0; n <= 77; n++) {
            for (int i = 0; i < n; i++) {
                x[i] = rnd_float() * 30.0f;
                z[i] = rnd_float();
            }
            if (n > 4) x[n - 1] = NAN, x[n / 2] = -INFINITY, x[1] = INFINITY;
            int bad = -1;
            /* out of place: y past n must stay untouched */
            for (int i = 0; i < 77; i++) y[i] = 12345.0f;
            spd_vact_f32(ac, y, x, n);
            for (int i = 0; i < 77 && bad < 0; i++)
                if (i < n ? !close_to(y[i], spd_act_scalar(ac, x[i])) : y[i] != 12345.0f) bad = i;
            check(bad < 0, "vact kind %d a=%g n=%d: element %d = %g", (int)ac->kind, ac->a, n, bad,
                  bad >= 0 ? y[bad] : 0.0f);
            /* in place, with bias and residual */
            const float bias = rnd_float() * 2.0f;
            for (int use_z = 0; use_z < 2; use_z++) {
                memcpy(y, x, sizeof y);
                spd_vact_bias_f32(ac, y, n, bias, use_z ? z : NULL);
                bad = -1;
                for (int i = 0; i < n && bad < 0; i++) {
                    float v = x[i] + bias;
                    if (use_z) v += z[i];
                    if (!close_to(y[i], spd_act_scalar(ac, v))) bad = i;
                }
                check(bad < 0, "vact_bias kind %d a=%g n=%d z=%d: element %d = %g", (int)ac->kind, ac->a, n, use_z,
                      bad, bad >= 0 ? y[bad] : 0.0f);
            }
        }
    }
}

int main(void)
{
    const spd_sgemm_isa best = spd_sgemm_isa_best();
    for (int isa = SPD_SGEMM_REF; isa <= (int)best; isa++) {
        spd_sgemm_set_isa((spd_sgemm_isa)isa);
        snprintf(g_label, sizeof g_label, "%s", spd_sgemm_isa_name((spd_sgemm_isa)isa));
        test_sweeps();
        test_specials();
        test_lengths();
    }
    return test_summary();
}
