/*
 * Copyright (C) llmopt authors
 *
 * Change detectors for a stream of values (an arm's rewards, its
 * latencies): Page-Hinkley, which accumulates deviations from the running
 * mean and alarms when they exceed a threshold, and ADWIN, which keeps an
 * adaptive window of the recent values (in an exponential histogram of
 * buckets) and alarms when two parts of it differ by more than chance
 * allows.  Both detect a change either way.  Fixed size, no allocation.
 */

#ifndef _LLMOPT_DRIFT_H_INCLUDED_
#define _LLMOPT_DRIFT_H_INCLUDED_


#include <stdint.h>


/* Page-Hinkley */

typedef struct {
    double      delta;          /* tolerated change of the mean */
    double      lambda;         /* alarm threshold */
    uint64_t    min_samples;    /* no alarm before this many */

    uint64_t    n;
    double      mean;
    double      up, up_min;     /* cumulative deviations, for a rise */
    double      down, down_min; /*   and for a fall */
} llmopt_ph_t;


void llmopt_ph_init(llmopt_ph_t *ph, double delta, double lambda,
    uint64_t min_samples);

/* Adds x; returns 1 (rise) or -1 (fall) on an alarm, which restarts the
   detector, else 0. */
int llmopt_ph_add(llmopt_ph_t *ph, double x);


/* ADWIN: at most LLMOPT_ADWIN_M buckets of each size 2^k */

#define LLMOPT_ADWIN_M        5
#define LLMOPT_ADWIN_LEVELS   32

typedef struct {
    double      delta;          /* confidence: false alarms about delta */
    uint64_t    min_samples;    /* per side of a cut */

    uint64_t    width;          /* values in the window */
    double      total;
    double      variance_sum;   /* of the window, for the bound */

    unsigned    count[LLMOPT_ADWIN_LEVELS];      /* buckets per level */
    double      sum[LLMOPT_ADWIN_LEVELS][LLMOPT_ADWIN_M + 1];
    double      var[LLMOPT_ADWIN_LEVELS][LLMOPT_ADWIN_M + 1];
    unsigned    levels;
    uint64_t    seen;           /* values since the last check */
} llmopt_adwin_t;


void llmopt_adwin_init(llmopt_adwin_t *a, double delta, uint64_t min_samples);

/*
 * Adds x; on a change it drops the older part of the window and returns
 * 1 when the recent mean is higher, -1 when lower, else 0.
 */
int llmopt_adwin_add(llmopt_adwin_t *a, double x);

/* The mean of the current window (0 when empty). */
double llmopt_adwin_mean(const llmopt_adwin_t *a);


#endif /* _LLMOPT_DRIFT_H_INCLUDED_ */
