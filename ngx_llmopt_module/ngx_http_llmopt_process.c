
/*
 * Copyright (C) llmopt authors
 *
 * The module in each process: a worker's own memory and its warm-up at
 * start, the trainer's start (ngx_http_llmopt_trainer.c), and what each
 * process, the master last, does as it exits.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_request.h"
#include "ngx_http_llmopt_trainer.h"
#include "ngx_http_llmopt_zone.h"
#include "ngx_http_llmopt_process.h"

#include "llmopt_rewrite.h"


static void ngx_http_llmopt_warm_up(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_policy_rt_t *prt);


ngx_int_t
ngx_http_llmopt_init_process(ngx_cycle_t *cycle)
{
    uint64_t                      seed;
    ngx_uint_t                    i;
    ngx_http_llmopt_main_conf_t  *lmcf;
    ngx_http_llmopt_policy_rt_t  *prt;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE
        && ngx_process != NGX_PROCESS_HELPER)
    {
        return NGX_OK;
    }

    lmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_llmopt_module);

    if (lmcf == NULL || !lmcf->loaded || lmcf->sh == NULL) {
        return NGX_OK;
    }

    if (ngx_process == NGX_PROCESS_HELPER) {
        return ngx_http_llmopt_trainer_init_process(cycle, lmcf);
    }

    lmcf->ntoks = 1024;
    lmcf->toks = ngx_palloc(cycle->pool,
                            lmcf->ntoks * sizeof(llmopt_json_tok_t));
    if (lmcf->toks == NULL) {
        return NGX_ERROR;
    }

    lmcf->random_used = sizeof(lmcf->random);

    prt = lmcf->policies.elts;

    for (i = 0; i < lmcf->policies.nelts; i++) {
        prt[i].last_good = ngx_pcalloc(cycle->pool, prt[i].block->size);
        if (prt[i].last_good == NULL) {
            return NGX_ERROR;
        }

        prt[i].last_seq = 1;    /* odd: no copy yet */

        seed = prt[i].policy->bandit.seed;

        if (seed == 0) {
            seed = ((uint64_t) ngx_pid << 32) ^ (uint64_t) ngx_time()
                   ^ (uint64_t) ngx_random() ^ (uintptr_t) &prt[i];
        }

        llmopt_rng_seed(&prt[i].rng, seed);

        ngx_memzero(lmcf->toks, lmcf->ntoks * sizeof(llmopt_json_tok_t));
        ngx_http_llmopt_warm_up(lmcf, &prt[i]);
    }

    return ngx_http_llmopt_trainer_init_process(cycle, lmcf);
}


/*
 * One decision on a made-up request, its result thrown away, before the
 * first real one: it brings the decision path's code and the policy's
 * parameters into memory, which otherwise the first request of each
 * worker pays for (measured in scripts/demo: 245-363 us without, 72-92 us
 * with; the rest is the heap's first pages).  The policy's own random
 * sequence is left alone.
 */

static void
ngx_http_llmopt_warm_up(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_policy_rt_t *prt)
{
    size_t                 len;
    llmopt_rng_t           rng;
    llmopt_choice_t        choice;
    llmopt_request_t       req;
    llmopt_feature_ctx_t   fctx;
    ngx_http_llmopt_arm_t *arm;
    double                 x[LLMOPT_FEATURE_MAX_DIM];
    u_char                 out[1024];

    static u_char  openai[] =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
        "\"warm up ```int x;``` please\"}],\"stream\":true}";
    static u_char  anthropic[] =
        "{\"model\":\"m\",\"max_tokens\":8,\"messages\":[{\"role\":"
        "\"user\",\"content\":\"warm up ```int x;``` please\"}]}";

    if (prt->policy->dialect == LLMOPT_DIALECT_ANTHROPIC) {
        len = sizeof(anthropic) - 1;
        if (llmopt_request_parse(&req, LLMOPT_DIALECT_ANTHROPIC, anthropic,
                                 len, lmcf->toks, lmcf->ntoks, 64, NULL)
            != LLMOPT_OK)
        {
            return;
        }

    } else {
        len = sizeof(openai) - 1;
        if (llmopt_request_parse(&req, LLMOPT_DIALECT_OPENAI, openai, len,
                                 lmcf->toks, lmcf->ntoks, 64, NULL)
            != LLMOPT_OK)
        {
            return;
        }
    }

    ngx_memzero(&fctx, sizeof(llmopt_feature_ctx_t));
    llmopt_features_build(&prt->policy->features, &req, &fctx, x);

    rng = prt->rng;

    if (llmopt_bandit_select(&prt->policy->bandit, prt->block->params, x,
                             NULL, &rng, &choice)
        != LLMOPT_OK)
    {
        return;
    }

    arm = &prt->arms[choice.arm < prt->n_arms ? choice.arm : 0];

    if (llmopt_request_rewrite_size(&req, arm->set, arm->n_set)
        <= sizeof(out))
    {
        (void) llmopt_request_rewrite(&req, arm->set, arm->n_set, out);
    }

    ngx_memcpy(prt->last_good, prt->block->params, prt->block->size);
}


void
ngx_http_llmopt_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_llmopt_main_conf_t  *lmcf;

    ngx_http_llmopt_cache_free();

    lmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_llmopt_module);

    if (lmcf == NULL || !lmcf->loaded || lmcf->sh == NULL) {
        return;
    }

    if (lmcf->ntoks > 1024) {
        /* grown for a large request with ngx_alloc(): not in a pool */
        ngx_free(lmcf->toks);
        lmcf->toks = NULL;
        lmcf->ntoks = 0;
    }

    ngx_http_llmopt_trainer_exit_process(cycle, lmcf);
}


void
ngx_http_llmopt_exit_master(ngx_cycle_t *cycle)
{
    ngx_http_llmopt_main_conf_t  *lmcf;

    lmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_llmopt_module);

    if (lmcf == NULL || !lmcf->loaded || lmcf->sh == NULL) {
        return;
    }

    ngx_http_llmopt_trainer_exit_master(cycle, lmcf);
}
