
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

#include <link.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_request.h"
#include "ngx_http_llmopt_trainer.h"
#include "ngx_http_llmopt_zone.h"
#include "ngx_http_llmopt_process.h"

#include "llmopt_decide.h"
#include "llmopt_rewrite.h"


#define NGX_HTTP_LLMOPT_WARM_HEAP  (64 * 1024)

#define ngx_http_llmopt_page(p)                                              \
    ((u_char *) ((uintptr_t) (p) & ~((uintptr_t) ngx_pagesize - 1)))

#if defined(__SANITIZE_ADDRESS__)
#define NGX_HTTP_LLMOPT_ASAN  1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NGX_HTTP_LLMOPT_ASAN  1
#endif
#endif

#ifndef NGX_HTTP_LLMOPT_ASAN
#define NGX_HTTP_LLMOPT_ASAN  0
#endif


static int ngx_http_llmopt_touch_self(struct dl_phdr_info *info,
    size_t size, void *data);
static void ngx_http_llmopt_touch_heap(void);
static int ngx_http_llmopt_warm_select(void *data, const double *x,
    const unsigned char *allowed, llmopt_rng_t *rng, llmopt_choice_t *choice);
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

#if !(NGX_HTTP_LLMOPT_ASAN)
    /* ASan's red zones lie between the globals: not for it */
    (void) dl_iterate_phdr(ngx_http_llmopt_touch_self, NULL);
#endif

    ngx_http_llmopt_touch_heap();

    return ngx_http_llmopt_trainer_init_process(cycle, lmcf);
}


/*
 * The module's own writable pages (.data, .bss), written once by this
 * worker: after fork() they are the master's, and the first write to each
 * is a copy-on-write fault (a few us each under load) that the first
 * request would otherwise pay.
 */

static int
ngx_http_llmopt_touch_self(struct dl_phdr_info *info, size_t size,
    void *data)
{
    u_char            *p, *end, *page, *relro, *relro_end;
    uintptr_t          self, start;
    ngx_uint_t         i;
    const ElfW(Phdr)  *ph;

    self = (uintptr_t) &ngx_http_llmopt_module;

    for (i = 0; i < info->dlpi_phnum; i++) {
        ph = &info->dlpi_phdr[i];
        start = info->dlpi_addr + ph->p_vaddr;

        if (ph->p_type == PT_LOAD && self >= start
            && self < start + ph->p_memsz)
        {
            break;
        }
    }

    if (i == info->dlpi_phnum) {
        return 0;                           /* another object */
    }

    /* the part made read-only after relocation is not written */

    relro = NULL;
    relro_end = NULL;

    for (i = 0; i < info->dlpi_phnum; i++) {
        ph = &info->dlpi_phdr[i];

        if (ph->p_type == PT_GNU_RELRO) {
            relro = (u_char *) (info->dlpi_addr + ph->p_vaddr);
            relro_end = relro + ph->p_memsz;
            relro = ngx_http_llmopt_page(relro);
        }
    }

    for (i = 0; i < info->dlpi_phnum; i++) {
        ph = &info->dlpi_phdr[i];

        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W)) {
            continue;
        }

        p = (u_char *) (info->dlpi_addr + ph->p_vaddr);
        end = p + ph->p_memsz;

        while (p < end) {
            page = ngx_http_llmopt_page(p);

            if (page + ngx_pagesize <= relro || page >= relro_end) {
                *(volatile u_char *) p = *(volatile u_char *) p;
            }

            p = page + ngx_pagesize;
        }
    }

    return 1;
}


/*
 * The heap's next pages, written once and given back: the first request's
 * pool, body copy and rewritten body come from them (freed below the trim
 * threshold, they stay mapped), and would else fault in one by one.
 */

static void
ngx_http_llmopt_touch_heap(void)
{
    u_char  *p;
    size_t   i, size;

    size = NGX_HTTP_LLMOPT_WARM_HEAP;

    p = ngx_alloc(size, ngx_cycle->log);
    if (p == NULL) {
        return;
    }

    for (i = 0; i < size; i += ngx_pagesize) {
        ((volatile u_char *) p)[i] = 0;
    }

    ngx_free(p);
}


/*
 * One decision on a made-up request, its result thrown away, before the
 * first real one: llmopt_decide() with the policy's bandit over the zone's
 * parameters, the features (the hour's sine too), the fit and the
 * rewrite, so that their code, the libraries' lazily bound symbols and the
 * policy's lines of the zone are in memory, which otherwise the first
 * request of each worker pays for (measured in scripts/demo: 245-363 us
 * without any warm-up, 72-92 us with the bandit alone; bench-proxy prints
 * the first request's decision against the steady median).  Nothing is
 * counted, and the policy's own random sequence is left alone.
 */

static void
ngx_http_llmopt_warm_up(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_policy_rt_t *prt)
{
    size_t                  len;
    u_char                 *body;
    ngx_uint_t              a;
    llmopt_rng_t            rng;
    llmopt_request_t        req;
    llmopt_guard_need_t     need;
    llmopt_decide_in_t      in;
    llmopt_decide_out_t     out;
    llmopt_feature_ctx_t    fctx;
    ngx_http_llmopt_arm_t  *arm;
    double                  x[LLMOPT_FEATURE_MAX_DIM];
    unsigned char           breach[LLMOPT_MAX_ARMS];
    uint64_t                until[LLMOPT_MAX_ARMS];
    u_char                  out_body[1024];

    static u_char  openai[] =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
        "\"warm up ```int x;``` please\"}],\"stream\":true}";
    static u_char  anthropic[] =
        "{\"model\":\"m\",\"max_tokens\":8,\"messages\":[{\"role\":"
        "\"user\",\"content\":\"warm up ```int x;``` please\"}]}";
    static u_char  responses[] =
        "{\"model\":\"m\",\"input\":\"warm up ```int x;``` please\","
        "\"stream\":true}";

    if (prt->policy->dialect == LLMOPT_DIALECT_ANTHROPIC) {
        body = anthropic;
        len = sizeof(anthropic) - 1;

    } else if (prt->policy->dialect == LLMOPT_DIALECT_RESPONSES) {
        body = responses;
        len = sizeof(responses) - 1;

    } else {
        body = openai;
        len = sizeof(openai) - 1;
    }

    if (llmopt_request_parse(&req, prt->policy->dialect, body, len,
                             lmcf->toks, lmcf->ntoks, 64, NULL)
        != LLMOPT_OK)
    {
        return;
    }

    ngx_memzero(&fctx, sizeof(llmopt_feature_ctx_t));
    llmopt_feature_hour(&fctx, (double) (ngx_time() % 86400) / 3600.0);
    llmopt_features_build(&prt->policy->features, &req, &fctx, x);
    llmopt_guard_need(&req, &need);

    for (a = 0; a < prt->n_arms; a++) {
        breach[a] = prt->stats->arms[a].slo_breach ? 1 : 0;
        until[a] = prt->stats->arms[a].breaker_open_until_ms;
    }

    rng = prt->rng;

    ngx_memzero(&in, sizeof(llmopt_decide_in_t));

    in.catalog = &lmcf->catalog;
    in.policy = prt->policy;
    in.need = &need;
    in.x = x;
    in.fallback = (unsigned) prt->fallback;
    in.now_ms = (uint64_t) ngx_time() * 1000;
    in.slo_breach = breach;
    in.breaker_until = until;
    in.canary_share = -1;
    in.rng = &rng;
    in.select = ngx_http_llmopt_warm_select;
    in.data = prt;

    if (llmopt_decide(&in, &out) != LLMOPT_DECIDE_OK) {
        out.arm = 0;
    }

    arm = &prt->arms[out.arm < prt->n_arms ? out.arm : 0];

    if (llmopt_request_rewrite_size(&req, arm->set, arm->n_set)
        <= sizeof(out_body))
    {
        (void) llmopt_request_rewrite(&req, arm->set, arm->n_set, out_body);
    }

    ngx_memcpy(prt->last_good, prt->block->params, prt->block->size);
}


/* The warm-up's bandit: the zone's parameters, read without the lock. */

static int
ngx_http_llmopt_warm_select(void *data, const double *x,
    const unsigned char *allowed, llmopt_rng_t *rng, llmopt_choice_t *choice)
{
    ngx_http_llmopt_policy_rt_t *prt = data;

    return llmopt_bandit_select(&prt->policy->bandit, prt->block->params, x,
                                allowed, rng, choice);
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
