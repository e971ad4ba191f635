/*
 * Copyright (C) llmopt authors
 *
 * Small dense linear algebra for the linear bandits.  Matrices are d x d,
 * row-major, plain arrays of doubles owned by the caller; nothing here
 * allocates.  d is at most LLMOPT_LINALG_MAX_DIM wherever a function keeps
 * a vector of d on its stack.
 */

#ifndef _LLMOPT_LINALG_H_INCLUDED_
#define _LLMOPT_LINALG_H_INCLUDED_


#include "llmopt_core.h"


#define LLMOPT_LINALG_MAX_DIM  64


/* x . y over d elements. */
double llmopt_linalg_dot(const double *x, const double *y, unsigned d);

/*
 * y = M x for a symmetric M.  Walks M by rows as if they were columns, so
 * the inner loop is a vectorisable axpy rather than a reduction; y must not
 * alias x.
 */
void llmopt_linalg_symv(const double *m, const double *x, double *y,
    unsigned d);

/* x' M x for a symmetric M, read from its upper triangle. */
double llmopt_linalg_quad(const double *m, const double *x, unsigned d);

/*
 * Sherman-Morrison: given inv = A^-1 (symmetric), makes it
 * (A + s x x')^-1 = A^-1 - s u u' / (1 + s x'u), u = A^-1 x, in O(d^2).
 * "u" is caller scratch of d doubles and holds A^-1 x on return.  Returns
 * LLMOPT_ERROR, leaving inv unchanged, when 1 + s x'A^-1 x is not safely
 * positive (A + s x x' singular or inv has lost definiteness).  The update
 * keeps inv exactly symmetric.
 */
int llmopt_linalg_rank1_inverse(double *inv, const double *x, double s,
    double *u, unsigned d);

/*
 * The same for x = e_k, the k-th unit vector: (A + s e_k e_k')^-1.  Row k
 * of inv is A^-1 e_k, so this skips the product: half the work.
 */
int llmopt_linalg_rank1_inverse_unit(double *inv, unsigned k, double s,
    double *u, unsigned d);

/*
 * Lower-triangular L with L L' = M for a symmetric positive definite M; the
 * strict upper triangle of l is zeroed.  LLMOPT_ERROR if M is not positive
 * definite (l is then partly written).  l must not alias m.
 */
int llmopt_linalg_cholesky(const double *m, double *l, unsigned d);

/*
 * inv = M^-1 for a symmetric positive definite M, through its Cholesky
 * factor; "work" is caller scratch of d * d doubles.  The result is made
 * exactly symmetric.  LLMOPT_ERROR if M is not positive definite; d <=
 * LLMOPT_LINALG_MAX_DIM.  inv must not alias m or work.
 */
int llmopt_linalg_spd_inverse(const double *m, double *inv, double *work,
    unsigned d);

/* y = L z for a lower-triangular L (upper triangle ignored). */
void llmopt_linalg_lower_mul(const double *l, const double *z, double *y,
    unsigned d);


#endif /* _LLMOPT_LINALG_H_INCLUDED_ */
