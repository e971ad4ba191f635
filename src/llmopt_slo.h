/*
 * Copyright (C) llmopt authors
 *
 * The latency SLO's watch of one arm: its latest latencies, and whether
 * their 95th percentile breaks the policy's latency_slo.  Plain memory of
 * the trainer's; the glue publishes the verdict for the workers, whose
 * llmopt_decide() leaves an arm in breach out.
 */

#ifndef _LLMOPT_SLO_H_INCLUDED_
#define _LLMOPT_SLO_H_INCLUDED_


#include <stdint.h>


#define LLMOPT_SLO_SAMPLES   200     /* recent latencies kept */
#define LLMOPT_SLO_MIN       20      /* before a verdict */


typedef struct {
    float        lat[LLMOPT_SLO_SAMPLES];   /* ms, a ring */
    unsigned     n;
    unsigned     pos;
    unsigned     fresh;                     /* samples since the verdict */
} llmopt_slo_t;


/* Empty. */
void llmopt_slo_init(llmopt_slo_t *slo);

/* One answer's latency, ms (>= 0); the oldest goes when full. */
void llmopt_slo_add(llmopt_slo_t *slo, float latency_ms);

/*
 * A verdict against slo_ms, once there are LLMOPT_SLO_MIN latencies and
 * some came since the last: LLMOPT_OK with *p95 (ms) and *breach (1 when
 * p95 > slo_ms); LLMOPT_DECLINED when none is due.
 */
int llmopt_slo_verdict(llmopt_slo_t *slo, uint64_t slo_ms, double *p95,
    unsigned *breach);


#endif /* _LLMOPT_SLO_H_INCLUDED_ */
