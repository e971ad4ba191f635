/*
 * Copyright (C) llmopt authors
 *
 * The latency SLO's watch of an arm (llmopt_slo.h): no verdict before
 * LLMOPT_SLO_MIN latencies nor twice without a new one; the p95 of the
 * latest LLMOPT_SLO_SAMPLES against the SLO.
 */

#include <string.h>

#include "tap.h"
#include "llmopt_core.h"
#include "llmopt_slo.h"


int
main(void)
{
    double        p95;
    unsigned      i, breach;
    llmopt_slo_t  slo;

    llmopt_slo_init(&slo);

    is_int(llmopt_slo_verdict(&slo, 100, &p95, &breach), LLMOPT_DECLINED,
           "empty: no verdict");

    for (i = 0; i < LLMOPT_SLO_MIN - 1; i++) {
        llmopt_slo_add(&slo, 500);
    }

    is_int(llmopt_slo_verdict(&slo, 100, &p95, &breach), LLMOPT_DECLINED,
           "one short of the minimum: no verdict");

    llmopt_slo_add(&slo, 500);

    is_int(llmopt_slo_verdict(&slo, 100, &p95, &breach), LLMOPT_OK,
           "at the minimum: a verdict");
    is_num(p95, 500, 0, "p95 of 500s");
    is_int(breach, 1, "500 ms breaks an SLO of 100");

    is_int(llmopt_slo_verdict(&slo, 100, &p95, &breach), LLMOPT_DECLINED,
           "nothing new since: no verdict");

    /* 200 fast answers push the slow ones out of the ring */

    for (i = 0; i < LLMOPT_SLO_SAMPLES; i++) {
        llmopt_slo_add(&slo, 50);
    }

    is_int(slo.n, LLMOPT_SLO_SAMPLES, "the ring holds LLMOPT_SLO_SAMPLES");
    is_int(llmopt_slo_verdict(&slo, 100, &p95, &breach), LLMOPT_OK,
           "a verdict again");
    is_num(p95, 50, 0, "the slow ones are gone");
    is_int(breach, 0, "within the SLO again");

    /* 5 % slow: the nearest-rank p95 is still fast; 6 %: slow */

    for (i = 0; i < 10; i++) {
        llmopt_slo_add(&slo, 900);
    }

    (void) llmopt_slo_verdict(&slo, 100, &p95, &breach);
    is_int(breach, 0, "10 slow of 200: p95 fast (%g)", p95);

    for (i = 0; i < 2; i++) {
        llmopt_slo_add(&slo, 900);
    }

    (void) llmopt_slo_verdict(&slo, 100, &p95, &breach);
    is_int(breach, 1, "12 slow of 200: p95 slow (%g)", p95);

    llmopt_slo_add(&slo, 900);
    (void) llmopt_slo_verdict(&slo, 1000, &p95, &breach);
    is_int(breach, 0, "against a looser SLO: met");

    return tap_done();
}
