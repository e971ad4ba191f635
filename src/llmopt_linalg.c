/*
 * Copyright (C) llmopt authors
 *
 * Dense helpers for the linear bandits: dot, symmetric matrix-vector
 * product, Sherman-Morrison, Cholesky, inverse of a positive definite
 * matrix.
 */


#include <math.h>

#include "llmopt_linalg.h"


/*
 * Smallest acceptable 1 + s x'A^-1 x relative to 1: below it the rank-one
 * update would divide by (almost) zero.
 */
#define LLMOPT_LINALG_TINY  1e-12


static int llmopt_linalg_rank1_apply(double *inv, double s, double c,
    const double *u, unsigned d);


double
llmopt_linalg_dot(const double *x, const double *y, unsigned d)
{
    double    s0, s1, s2, s3;
    unsigned  i;

    /* four partial sums break the dependency chain of one accumulator */

    s0 = 0;
    s1 = 0;
    s2 = 0;
    s3 = 0;

    for (i = 0; i + 4 <= d; i += 4) {
        s0 += x[i] * y[i];
        s1 += x[i + 1] * y[i + 1];
        s2 += x[i + 2] * y[i + 2];
        s3 += x[i + 3] * y[i + 3];
    }

    for ( /* void */ ; i < d; i++) {
        s0 += x[i] * y[i];
    }

    return (s0 + s1) + (s2 + s3);
}


void
llmopt_linalg_symv(const double *m, const double *x, double *y, unsigned d)
{
    double         xj;
    unsigned       i, j;
    const double  *row;

    for (i = 0; i < d; i++) {
        y[i] = 0;
    }

    /* M symmetric: row j is column j, so y += x[j] * M[j][.] */

    for (j = 0; j < d; j++) {
        xj = x[j];

        if (xj == 0) {
            continue;                   /* sparse features are common */
        }

        row = &m[(size_t) j * d];

        for (i = 0; i < d; i++) {
            y[i] += xj * row[i];
        }
    }
}


double
llmopt_linalg_quad(const double *m, const double *x, unsigned d)
{
    double         s0, s1, s2, s3, t, sum, xi;
    unsigned       i, j;
    const double  *row;

    /*
     * x'Mx = sum_i x_i (M_ii x_i + 2 sum_{j > i} M_ij x_j): the upper
     * triangle only, d (d + 1) / 2 products, four partial sums per row.
     */

    sum = 0;

    for (i = 0; i < d; i++) {
        xi = x[i];

        if (xi == 0) {
            continue;
        }

        row = &m[(size_t) i * d];

        s0 = 0;
        s1 = 0;
        s2 = 0;
        s3 = 0;

        for (j = i + 1; j + 4 <= d; j += 4) {
            s0 += row[j] * x[j];
            s1 += row[j + 1] * x[j + 1];
            s2 += row[j + 2] * x[j + 2];
            s3 += row[j + 3] * x[j + 3];
        }

        for ( /* void */ ; j < d; j++) {
            s0 += row[j] * x[j];
        }

        t = (s0 + s1) + (s2 + s3);
        sum += xi * (row[i] * xi + 2.0 * t);
    }

    return sum;
}


int
llmopt_linalg_rank1_inverse(double *inv, const double *x, double s,
    double *u, unsigned d)
{
    llmopt_linalg_symv(inv, x, u, d);

    return llmopt_linalg_rank1_apply(inv, s, 1.0 + s * llmopt_linalg_dot(x, u,
                                                                        d),
                                     u, d);
}


int
llmopt_linalg_rank1_inverse_unit(double *inv, unsigned k, double s,
    double *u, unsigned d)
{
    unsigned  i;

    /* u = A^-1 e_k is row k (M is symmetric); e_k' u = u_k */

    for (i = 0; i < d; i++) {
        u[i] = inv[(size_t) k * d + i];
    }

    return llmopt_linalg_rank1_apply(inv, s, 1.0 + s * u[k], u, d);
}


/* inv -= s u u' / c, for c = 1 + s x'u computed by the caller */

static int
llmopt_linalg_rank1_apply(double *inv, double s, double c, const double *u,
    unsigned d)
{
    double    ui;
    double   *row;
    unsigned  i, j;

    if (!(c > LLMOPT_LINALG_TINY) || isinf(c)) {
        return LLMOPT_ERROR;
    }

    c = s / c;

    for (i = 0; i < d; i++) {
        ui = c * u[i];
        row = &inv[(size_t) i * d];

        for (j = i; j < d; j++) {
            row[j] -= ui * u[j];
        }
    }

    /*
     * Only the upper triangle was updated (c u_i u_j and c u_j u_i would
     * round differently): mirror it so the inverse stays exactly symmetric.
     */

    for (i = 1; i < d; i++) {
        for (j = 0; j < i; j++) {
            inv[(size_t) i * d + j] = inv[(size_t) j * d + i];
        }
    }

    return LLMOPT_OK;
}


int
llmopt_linalg_cholesky(const double *m, double *l, unsigned d)
{
    double    s;
    unsigned  i, j, k;

    for (i = 0; i < d; i++) {
        for (j = 0; j <= i; j++) {
            s = m[(size_t) i * d + j];

            for (k = 0; k < j; k++) {
                s -= l[(size_t) i * d + k] * l[(size_t) j * d + k];
            }

            if (i == j) {
                if (!(s > 0) || isinf(s)) {
                    return LLMOPT_ERROR;
                }

                l[(size_t) i * d + i] = sqrt(s);

            } else {
                l[(size_t) i * d + j] = s / l[(size_t) j * d + j];
            }
        }

        for (j = i + 1; j < d; j++) {
            l[(size_t) i * d + j] = 0;
        }
    }

    return LLMOPT_OK;
}


int
llmopt_linalg_spd_inverse(const double *m, double *inv, double *work,
    unsigned d)
{
    double         s, y[LLMOPT_LINALG_MAX_DIM];
    unsigned       i, j, k, c;
    const double  *l;

    if (d > LLMOPT_LINALG_MAX_DIM
        || llmopt_linalg_cholesky(m, work, d) != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    l = work;

    /* column c of M^-1 solves L L' v = e_c: forward, then back substitution */

    for (c = 0; c < d; c++) {

        for (i = 0; i < c; i++) {
            y[i] = 0;                   /* L is lower: e_c gives y[i < c] 0 */
        }

        for (i = c; i < d; i++) {
            s = (i == c) ? 1.0 : 0.0;

            for (k = c; k < i; k++) {
                s -= l[(size_t) i * d + k] * y[k];
            }

            y[i] = s / l[(size_t) i * d + i];
        }

        for (j = d; j-- > 0; /* void */) {
            s = y[j];

            for (k = j + 1; k < d; k++) {
                s -= l[(size_t) k * d + j] * inv[(size_t) k * d + c];
            }

            inv[(size_t) j * d + c] = s / l[(size_t) j * d + j];
        }
    }

    for (i = 1; i < d; i++) {
        for (j = 0; j < i; j++) {
            s = 0.5 * (inv[(size_t) i * d + j] + inv[(size_t) j * d + i]);
            inv[(size_t) i * d + j] = s;
            inv[(size_t) j * d + i] = s;
        }
    }

    return LLMOPT_OK;
}


void
llmopt_linalg_lower_mul(const double *l, const double *z, double *y,
    unsigned d)
{
    unsigned  i;

    for (i = 0; i < d; i++) {
        y[i] = llmopt_linalg_dot(&l[(size_t) i * d], z, i + 1);
    }
}
