
/*
 * Copyright (C) llmopt authors
 *
 * The canary rollout of each policy, in the zone: the stage machine of
 * src/llmopt_canary.c handed the zone's copy and the clock, and its
 * changes logged.  The trainer alone writes it; workers read its share.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_http.h"
#include "ngx_http_llmopt_zone.h"
#include "ngx_http_llmopt_canary.h"


void
ngx_http_llmopt_canary_init(ngx_http_llmopt_stats_t *st,
    ngx_http_llmopt_policy_rt_t *prt)
{
    ngx_str_t                   *name;
    const llmopt_canary_conf_t  *c;

    c = &prt->policy->canary;
    name = c->arm >= 0 ? &prt->arms[c->arm].name : NULL;

    llmopt_canary_start(&st->canary, c,
                        name != NULL ? (const char *) name->data : NULL,
                        name != NULL ? name->len : 0,
                        ngx_http_llmopt_wall_ms());
}


ngx_int_t
ngx_http_llmopt_canary_restore(ngx_http_llmopt_policy_rt_t *prt,
    const llmopt_canary_t *saved)
{
    if (llmopt_canary_restore(&prt->stats->canary, &prt->policy->canary,
                              saved)
        != LLMOPT_OK)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


double
ngx_http_llmopt_canary_share(ngx_http_llmopt_policy_rt_t *prt)
{
    return llmopt_canary_share(&prt->stats->canary, &prt->policy->canary);
}


void
ngx_http_llmopt_canary_learned(ngx_http_llmopt_policy_rt_t *prt,
    const llmopt_event_t *ev, const llmopt_reward_t *rw, uint64_t now,
    ngx_log_t *log)
{
    int                          v;
    llmopt_canary_t             *cs;
    const llmopt_canary_conf_t  *c;

    c = &prt->policy->canary;
    cs = &prt->stats->canary;

    v = llmopt_canary_learned(cs, c, ev->arm, rw->quality, ev->cost,
                              ev->latency_ms, ev->time_ms, now);

    if (v == LLMOPT_CANARY_ROLLBACK) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "llmopt: policy \"%V\": canary arm \"%V\" rolled back "
                      "at %.0f%%: %s", &prt->name, &prt->arms[c->arm].name,
                      c->stages[cs->stage] * 100, cs->why);

    } else if (v == LLMOPT_CANARY_ADVANCE) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "llmopt: policy \"%V\": canary arm \"%V\" %s %.0f%% "
                      "(%s)", &prt->name, &prt->arms[c->arm].name,
                      cs->state == LLMOPT_CANARY_COMPLETE ? "rolled out at"
                                                          : "advanced to",
                      c->stages[cs->stage] * 100, cs->why);
    }
}
