/*
 * Copyright (C) llmopt authors
 *
 * Dense helpers of the linear bandits against naive computations.
 */

#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "llmopt_core.h"
#include "llmopt_linalg.h"
#include "llmopt_rng.h"


#define MAXD  LLMOPT_LINALG_MAX_DIM


static void random_spd(llmopt_rng_t *rng, double *m, unsigned d);
static double max_diff(const double *a, const double *b, size_t n);
static double identity_error(const double *m, const double *inv, unsigned d);
static void test_products(void);
static void test_cholesky(void);
static void test_inverse(void);
static void test_sherman_morrison(void);


static double  m[MAXD * MAXD], inv[MAXD * MAXD], work[MAXD * MAXD];
static double  l[MAXD * MAXD], a[MAXD * MAXD];


int
main(void)
{
    test_products();
    test_cholesky();
    test_inverse();
    test_sherman_morrison();

    return tap_done();
}


/* B B' + I for a random B: symmetric positive definite */

static void
random_spd(llmopt_rng_t *rng, double *out, unsigned d)
{
    unsigned  i, j, k;
    double    b[MAXD * MAXD];

    for (i = 0; i < d * d; i++) {
        b[i] = llmopt_rng_uniform(rng) * 2 - 1;
    }

    for (i = 0; i < d; i++) {
        for (j = 0; j < d; j++) {
            out[i * d + j] = (i == j);

            for (k = 0; k < d; k++) {
                out[i * d + j] += b[i * d + k] * b[j * d + k];
            }
        }
    }
}


static double
max_diff(const double *x, const double *y, size_t n)
{
    size_t  i;
    double  w;

    w = 0;

    for (i = 0; i < n; i++) {
        if (!(fabs(x[i] - y[i]) <= w)) {
            w = fabs(x[i] - y[i]);
        }
    }

    return w;
}


/* max |M inv - I| */

static double
identity_error(const double *mm, const double *mi, unsigned d)
{
    unsigned  i, j, k;
    double    s, w;

    w = 0;

    for (i = 0; i < d; i++) {
        for (j = 0; j < d; j++) {
            s = 0;

            for (k = 0; k < d; k++) {
                s += mm[i * d + k] * mi[k * d + j];
            }

            s -= (i == j);

            if (!(fabs(s) <= w)) {
                w = fabs(s);
            }
        }
    }

    return w;
}


static void
test_products(void)
{
    unsigned      d, i, j, bad_dot, bad_symv, bad_quad;
    double        x[MAXD], y[MAXD], z[MAXD], s, q;
    llmopt_rng_t  rng;

    llmopt_rng_seed(&rng, 7);

    bad_dot = 0;
    bad_symv = 0;
    bad_quad = 0;

    for (d = 1; d <= 19; d++) {
        random_spd(&rng, m, d);

        for (i = 0; i < d; i++) {
            x[i] = llmopt_rng_uniform(&rng) * 4 - 2;
            y[i] = llmopt_rng_uniform(&rng) * 4 - 2;
        }

        x[d / 2] = 0;                   /* the sparse skip */

        s = 0;
        for (i = 0; i < d; i++) {
            s += x[i] * y[i];
        }

        bad_dot += fabs(llmopt_linalg_dot(x, y, d) - s) > 1e-12;

        llmopt_linalg_symv(m, x, z, d);

        q = 0;
        for (i = 0; i < d; i++) {
            s = 0;
            for (j = 0; j < d; j++) {
                s += m[i * d + j] * x[j];
            }

            bad_symv += fabs(z[i] - s) > 1e-10;
            q += x[i] * s;
        }

        bad_quad += fabs(llmopt_linalg_quad(m, x, d) - q) > 1e-9 * (1 + q);
    }

    is_int(bad_dot, 0, "dot matches the naive sum, d = 1..19");
    is_int(bad_symv, 0, "symv matches the naive product");
    is_int(bad_quad, 0, "quad (upper triangle) matches x'Mx");

    is_num(llmopt_linalg_dot(x, y, 0), 0, 0, "empty dot is 0");
}


static void
test_cholesky(void)
{
    unsigned      d, i, j, upper_zero;
    double        rec[MAXD * MAXD], col[MAXD], e[MAXD];
    llmopt_rng_t  rng;

    llmopt_rng_seed(&rng, 11);

    for (d = 1; d <= 16; d += 5) {
        random_spd(&rng, m, d);

        is_int(llmopt_linalg_cholesky(m, l, d), LLMOPT_OK,
               "cholesky of an SPD matrix, d = %u", d);

        /* L L' column by column through lower_mul of L' columns */

        for (j = 0; j < d; j++) {
            for (i = 0; i < d; i++) {
                e[i] = l[j * d + i];    /* row j of L = column j of L' */
            }

            llmopt_linalg_lower_mul(l, e, col, d);

            for (i = 0; i < d; i++) {
                rec[i * d + j] = col[i];
            }
        }

        ok(max_diff(rec, m, (size_t) d * d) < 1e-10,
           "L L' reproduces M, d = %u", d);

        upper_zero = 1;
        for (i = 0; i < d; i++) {
            for (j = i + 1; j < d; j++) {
                upper_zero &= l[i * d + j] == 0;
            }
        }

        ok(upper_zero, "upper triangle of L is zero, d = %u", d);
    }

    /* [[1, 2], [2, 1]] has eigenvalues 3 and -1 */

    m[0] = 1; m[1] = 2; m[2] = 2; m[3] = 1;
    is_int(llmopt_linalg_cholesky(m, l, 2), LLMOPT_ERROR,
           "cholesky refuses an indefinite matrix");

    m[0] = NAN;
    is_int(llmopt_linalg_cholesky(m, l, 2), LLMOPT_ERROR,
           "cholesky refuses NaN");
}


static void
test_inverse(void)
{
    unsigned      dims[] = { 1, 2, 3, 8, 16, 64 }, i, k, symmetric;
    llmopt_rng_t  rng;

    llmopt_rng_seed(&rng, 13);

    for (k = 0; k < sizeof(dims) / sizeof(dims[0]); k++) {
        random_spd(&rng, m, dims[k]);

        is_int(llmopt_linalg_spd_inverse(m, inv, work, dims[k]), LLMOPT_OK,
               "spd_inverse succeeds, d = %u", dims[k]);

        ok(identity_error(m, inv, dims[k]) < 1e-9,
           "M M^-1 = I, d = %u", dims[k]);

        symmetric = 1;
        for (i = 0; i < dims[k] * dims[k]; i++) {
            symmetric &= inv[i] == inv[(i % dims[k]) * dims[k]
                                       + i / dims[k]];
        }

        ok(symmetric, "inverse exactly symmetric, d = %u", dims[k]);
    }

    m[0] = 0;
    is_int(llmopt_linalg_spd_inverse(m, inv, work, 1), LLMOPT_ERROR,
           "spd_inverse refuses a singular matrix");
    is_int(llmopt_linalg_spd_inverse(m, inv, work, MAXD + 1), LLMOPT_ERROR,
           "spd_inverse refuses d above the maximum");
}


static void
test_sherman_morrison(void)
{
    int           rc, failed;
    unsigned      d, i, j, t, symmetric;
    double        x[MAXD], u[MAXD], direct[MAXD * MAXD], saved[4];
    llmopt_rng_t  rng;

    llmopt_rng_seed(&rng, 17);
    d = 16;

    /* A = 2 I, updated 5000 times by x x' with a bias feature */

    memset(a, 0, sizeof(a));
    memset(inv, 0, sizeof(inv));

    for (i = 0; i < d; i++) {
        a[i * d + i] = 2.0;
        inv[i * d + i] = 0.5;
    }

    failed = 0;

    for (t = 0; t < 5000; t++) {
        for (i = 0; i < d; i++) {
            x[i] = i == 0 ? 1.0 : (llmopt_rng_uniform(&rng) < 0.3
                                   ? llmopt_rng_uniform(&rng) * 3 : 0);
        }

        for (i = 0; i < d; i++) {
            for (j = 0; j < d; j++) {
                a[i * d + j] += x[i] * x[j];
            }
        }

        failed += llmopt_linalg_rank1_inverse(inv, x, 1.0, u, d)
                  != LLMOPT_OK;
    }

    is_int(failed, 0, "5000 rank-one updates all succeed");

    llmopt_linalg_spd_inverse(a, direct, work, d);

    ok(max_diff(inv, direct, (size_t) d * d) < 1e-9,
       "Sherman-Morrison after 5000 updates matches the direct inverse "
       "(%.2g)", max_diff(inv, direct, (size_t) d * d));

    symmetric = 1;
    for (i = 0; i < d; i++) {
        for (j = 0; j < d; j++) {
            symmetric &= inv[i * d + j] == inv[j * d + i];
        }
    }

    ok(symmetric, "Sherman-Morrison keeps the inverse exactly symmetric");

    /* u holds A^-1 x of the last update (before it) */

    ok(identity_error(a, inv, d) < 1e-9, "A (A^-1 updated) = I");

    /* the unit-vector form agrees with the general one */

    memcpy(direct, inv, sizeof(double) * d * d);
    memset(x, 0, sizeof(double) * d);
    x[5] = 1;

    rc = llmopt_linalg_rank1_inverse(inv, x, 0.37, u, d);
    rc |= llmopt_linalg_rank1_inverse_unit(direct, 5, 0.37, u, d);

    ok(rc == LLMOPT_OK && max_diff(inv, direct, (size_t) d * d) < 1e-15,
       "rank-one update by e_k: unit form equals the general form");

    /* a negative weight: (I - x x')^-1 with |x| = 1 is singular */

    memset(inv, 0, sizeof(double) * 4);
    inv[0] = 1;
    inv[3] = 1;
    x[0] = 1;
    x[1] = 0;
    memcpy(saved, inv, sizeof(saved));

    rc = llmopt_linalg_rank1_inverse(inv, x, -1.0, u, 2);

    is_int(rc, LLMOPT_ERROR, "rank-one update refuses a singular result");
    ok(memcmp(saved, inv, sizeof(saved)) == 0,
       "a refused update leaves the inverse alone");

    /* a downdate that stays definite: (2 I - e0 e0')^-1 */

    inv[0] = 0.5; inv[1] = 0; inv[2] = 0; inv[3] = 0.5;
    rc = llmopt_linalg_rank1_inverse(inv, x, -1.0, u, 2);

    ok(rc == LLMOPT_OK && fabs(inv[0] - 1.0) < 1e-15
       && fabs(inv[3] - 0.5) < 1e-15, "a definite downdate is exact");
}
