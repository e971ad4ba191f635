/*
 * Copyright (C) llmopt authors
 *
 * A cascade's tunables (docs/CASCADE.md), apart from llmopt_cascade.h so
 * that the catalog can hold them without the model and the signals.
 */

#ifndef _LLMOPT_CASCADE_TYPES_H_INCLUDED_
#define _LLMOPT_CASCADE_TYPES_H_INCLUDED_


#define LLMOPT_CASCADE_MAX_TIERS     8


/* A cascade's tunables; llmopt_cascade_conf_default() fills them. */

typedef struct {
    unsigned          max_tiers;          /* tiers tried at most, >= 1 */
    double            time_budget_ms;     /* no escalation after, <= 0 none */
    double            rate;               /* AdaGrad's base step */
    double            l2;                 /* ridge on w (not the bias) */
    double            forced_share;       /* of accepts escalated anyway, */
    double            forced_half;        /*   halved each forced_half
                                             decisions, never below */
    double            forced_floor;       /*   forced_floor */
} llmopt_cascade_conf_t;


/* Default tunables (docs/CASCADE.md gives them). */
void llmopt_cascade_conf_default(llmopt_cascade_conf_t *conf);


#endif /* _LLMOPT_CASCADE_TYPES_H_INCLUDED_ */
