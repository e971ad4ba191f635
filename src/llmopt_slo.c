/*
 * Copyright (C) llmopt authors
 *
 * The latency SLO's watch of an arm (llmopt_slo.h).
 */

#include <string.h>

#include "llmopt_core.h"
#include "llmopt_guard.h"
#include "llmopt_slo.h"


void
llmopt_slo_init(llmopt_slo_t *slo)
{
    slo->n = 0;
    slo->pos = 0;
    slo->fresh = 0;
}


void
llmopt_slo_add(llmopt_slo_t *slo, float latency_ms)
{
    slo->lat[slo->pos] = latency_ms;
    slo->pos = (slo->pos + 1) % LLMOPT_SLO_SAMPLES;
    slo->fresh = 1;

    if (slo->n < LLMOPT_SLO_SAMPLES) {
        slo->n++;
    }
}


int
llmopt_slo_verdict(llmopt_slo_t *slo, uint64_t slo_ms, double *p95,
    unsigned *breach)
{
    float  tmp[LLMOPT_SLO_SAMPLES];

    if (slo->n < LLMOPT_SLO_MIN || !slo->fresh) {
        return LLMOPT_DECLINED;
    }

    slo->fresh = 0;

    *p95 = llmopt_guard_p95(slo->lat, slo->n, tmp);
    *breach = *p95 > (double) slo_ms;

    return LLMOPT_OK;
}
