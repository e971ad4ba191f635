
/*
 * Copyright (C) llmopt authors
 *
 * The state file (llmopt_state_file): what it keeps, writing and reading.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_canary.h"
#include "ngx_http_llmopt_sparse.h"
#include "ngx_http_llmopt_zone.h"
#include "ngx_http_llmopt_state.h"

#include "llmopt_snapshot.h"


/*
 * The most entries a policy has in the state file: its own, "fleet",
 * "budget", "canary", "variants", "arms", "attic0", "attic1", "sparse" and
 * "sparse-local" (below); a kind added there is counted here.
 */
#define NGX_HTTP_LLMOPT_STATE_PER_POLICY  10


static ngx_uint_t ngx_http_llmopt_fleet_entries(
    ngx_http_llmopt_main_conf_t *lmcf, llmopt_snapshot_entry_t *e,
    ngx_log_t *log);
static void ngx_http_llmopt_fleet_restore(ngx_http_llmopt_main_conf_t *lmcf,
    const llmopt_snapshot_entry_t *e, unsigned ne, ngx_log_t *log);
static ngx_uint_t ngx_http_llmopt_guard_entries(
    ngx_http_llmopt_main_conf_t *lmcf, llmopt_snapshot_entry_t *e,
    ngx_log_t *log);
static void ngx_http_llmopt_guard_entries_free(llmopt_snapshot_entry_t *e,
    ngx_uint_t n);
static void ngx_http_llmopt_guard_restore(ngx_http_llmopt_main_conf_t *lmcf,
    const llmopt_snapshot_entry_t *e, unsigned ne, ngx_log_t *log);
static ngx_uint_t ngx_http_llmopt_arm_entries(
    ngx_http_llmopt_main_conf_t *lmcf, llmopt_snapshot_entry_t *e,
    ngx_log_t *log);
static ngx_http_llmopt_block_t *ngx_http_llmopt_arm_block(
    ngx_http_llmopt_policy_rt_t *prt, const llmopt_snapshot_entry_t *names,
    const void *params, size_t size, ngx_log_t *log);
static ngx_uint_t ngx_http_llmopt_arms_restore(
    ngx_http_llmopt_main_conf_t *lmcf, ngx_http_llmopt_policy_rt_t *prt,
    const llmopt_snapshot_entry_t *found, ngx_uint_t whole,
    const llmopt_snapshot_entry_t *e, unsigned ne, ngx_log_t *log);


/*
 * Budgets and canaries in the state file: each budgeted policy's
 * accounts (its own, then its tenants'), copied under the zone's mutex,
 * as an entry "budget:<policy>", each canary's state as one
 * "canary:<policy>", the prompt variants' tallies as "variants:<policy>",
 * each of a shape of its own.  Returns the entries
 * made in e (each owns its name and copy).
 */

#define NGX_HTTP_LLMOPT_BUDGET_SHAPE  0x6c6c6d6f62756432ULL
#define NGX_HTTP_LLMOPT_CANARY_SHAPE  0x6c6c6d6f63616e31ULL
#define NGX_HTTP_LLMOPT_VARIANT_SHAPE 0x6c6c6d6f76617231ULL


/*
 * An entry "<kind>:<policy>" of size bytes: its name and its payload
 * (returned, for the caller to fill) in one allocation, which
 * ngx_http_llmopt_guard_entries_free() frees by the name.
 */

static void *
ngx_http_llmopt_state_entry(llmopt_snapshot_entry_t *e, const char *kind,
    ngx_str_t *policy, uint64_t shape, size_t size, ngx_log_t *log)
{
    u_char  *p, *name;
    size_t   len;

    len = ngx_strlen(kind) + 1 + policy->len;

    p = ngx_alloc(ngx_align(len, 8) + size, log);
    if (p == NULL) {
        return NULL;
    }

    name = p;
    e->name = (const char *) name;
    e->name_len = ngx_sprintf(name, "%s:%V", kind, policy) - name;
    e->shape = shape;
    e->params = p + ngx_align(len, 8);
    e->size = size;

    return (void *) e->params;
}


/* The entry "<kind>:<policy>" of that shape in the file, or NULL. */

static const llmopt_snapshot_entry_t *
ngx_http_llmopt_state_find(const llmopt_snapshot_entry_t *e, unsigned ne,
    const char *kind, ngx_str_t *policy, uint64_t shape)
{
    u_char                          name[16 + LLMOPT_CATALOG_NAME_MAX];
    size_t                          len;
    const llmopt_snapshot_entry_t  *found;

    len = ngx_snprintf(name, sizeof(name), "%s:%V", kind, policy) - name;
    found = llmopt_snapshot_find(e, ne, (const char *) name, len);

    return found != NULL && found->shape == shape ? found : NULL;
}


/* The entry "<kind>:<policy>" in the file, of whatever shape, or NULL. */

static const llmopt_snapshot_entry_t *
ngx_http_llmopt_state_find_any(const llmopt_snapshot_entry_t *e, unsigned ne,
    const char *kind, ngx_str_t *policy)
{
    u_char  name[16 + LLMOPT_CATALOG_NAME_MAX];
    size_t  len;

    len = ngx_snprintf(name, sizeof(name), "%s:%V", kind, policy) - name;

    return llmopt_snapshot_find(e, ne, (const char *) name, len);
}


/*
 * llmopt_redis: the other instances' statistics as this instance last
 * merged them, one entry "fleet:<policy>" each, so that a restart while
 * Redis is away serves the fleet's model, not this instance's alone.  The
 * policy's own entry stays this instance's part: nothing is counted twice
 * when Redis returns, as the next exchange replaces the fleet's part.
 */

static ngx_uint_t
ngx_http_llmopt_fleet_entries(ngx_http_llmopt_main_conf_t *lmcf,
    llmopt_snapshot_entry_t *e, ngx_log_t *log)
{
    u_char                       *copy;
    ngx_uint_t                    i, n;
    ngx_http_llmopt_policy_rt_t  *prt;

    prt = lmcf->policies.elts;
    n = 0;

    for (i = 0; i < lmcf->policies.nelts; i++) {
        if (prt[i].others == NULL
            || llmopt_bandit_updates(prt[i].others->params) == 0)
        {
            continue;
        }

        copy = ngx_http_llmopt_state_entry(&e[n], "fleet", &prt[i].name,
                                           prt[i].shape, prt[i].others->size,
                                           log);
        if (copy == NULL) {
            continue;
        }

        /* the trainer writes it, and the trainer (or the master, last of
           all) is what runs this */
        ngx_memcpy(copy, prt[i].others->params, prt[i].others->size);
        n++;
    }

    return n;
}


/*
 * At start: the fleet's part back into the zone, and the model workers
 * read made of this instance's part and it, as the trainer will publish
 * it.
 */

static void
ngx_http_llmopt_fleet_restore(ngx_http_llmopt_main_conf_t *lmcf,
    const llmopt_snapshot_entry_t *e, unsigned ne, ngx_log_t *log)
{
    ngx_uint_t                      i;
    const llmopt_snapshot_entry_t  *found;
    ngx_http_llmopt_policy_rt_t    *prt;

    prt = lmcf->policies.elts;

    for (i = 0; i < lmcf->policies.nelts; i++) {
        if (prt[i].others == NULL) {
            continue;
        }

        found = ngx_http_llmopt_state_find(e, ne, "fleet", &prt[i].name,
                                           prt[i].shape);

        if (found == NULL || found->size != prt[i].others->size
            || llmopt_bandit_check(&prt[i].policy->bandit, found->params)
               != LLMOPT_OK)
        {
            continue;
        }

        ngx_memcpy(prt[i].others->params, found->params, found->size);
        llmopt_bandit_merge(&prt[i].policy->bandit, prt[i].block->params,
                            prt[i].others->params);

        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "llmopt_state_file \"%V\": policy \"%V\" serves the "
                      "other instances' statistics too (%uL updates) until "
                      "Redis is reached", &lmcf->state_file, &prt[i].name,
                      llmopt_bandit_updates(found->params));
    }
}


static ngx_uint_t
ngx_http_llmopt_guard_entries(ngx_http_llmopt_main_conf_t *lmcf,
    llmopt_snapshot_entry_t *e, ngx_log_t *log)
{
    u_char                       *copy;
    ngx_uint_t                    i, n;
    ngx_http_llmopt_budget_t     *b;
    ngx_http_llmopt_policy_rt_t  *prt;

    prt = lmcf->policies.elts;
    n = 0;

    for (i = 0; i < lmcf->policies.nelts; i++) {
        b = prt[i].stats->budget;

        if (!prt[i].policy->budgeted || b == NULL) {
            continue;
        }

        copy = ngx_http_llmopt_state_entry(&e[n], "budget", &prt[i].name,
                                           NGX_HTTP_LLMOPT_BUDGET_SHAPE,
                                           (b->n + 1)
                                           * sizeof(llmopt_budget_account_t),
                                           log);
        if (copy == NULL) {
            continue;
        }

        ngx_shmtx_lock(&lmcf->shpool->mutex);
        ngx_memcpy(copy, &b->policy, sizeof(llmopt_budget_account_t));
        ngx_memcpy(copy + sizeof(llmopt_budget_account_t), b->tenants,
                   b->n * sizeof(llmopt_budget_account_t));
        ngx_shmtx_unlock(&lmcf->shpool->mutex);

        n++;
    }

    /* and the canaries: a restart neither rolls a rolled-back arm out
       again nor starts a rollout over */

    for (i = 0; i < lmcf->policies.nelts; i++) {
        if (prt[i].policy->canary.arm < 0) {
            continue;
        }

        copy = ngx_http_llmopt_state_entry(&e[n], "canary", &prt[i].name,
                                           NGX_HTTP_LLMOPT_CANARY_SHAPE,
                                           sizeof(llmopt_canary_t),
                                           log);
        if (copy == NULL) {
            continue;
        }

        ngx_memcpy(copy, &prt[i].stats->canary,
                   sizeof(llmopt_canary_t));
        n++;
    }

    /* the prompt variants' tallies, "variants:<policy>", of the shape of
       the policy's arms and variants; the trainer alone writes them */

    for (i = 0; i < lmcf->policies.nelts; i++) {
        if (prt[i].policy->n_variants == 0 || prt[i].stats->variants == NULL)
        {
            continue;
        }

        copy = ngx_http_llmopt_state_entry(&e[n], "variants", &prt[i].name,
                                           NGX_HTTP_LLMOPT_VARIANT_SHAPE
                                           ^ prt[i].shape
                                           ^ prt[i].stats->variants_shape,
                                           NGX_HTTP_LLMOPT_VARIANTS, log);
        if (copy == NULL) {
            continue;
        }

        ngx_memcpy(copy, prt[i].stats->variants, NGX_HTTP_LLMOPT_VARIANTS);
        n++;
    }

    return n;
}


static void
ngx_http_llmopt_guard_entries_free(llmopt_snapshot_entry_t *e, ngx_uint_t n)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        ngx_free((void *) e[i].name);
    }
}


/*
 * At start: what the budgets' accounts held at the last checkpoint (the
 * current periods roll at their next use).  Requests in flight then are
 * gone: their reservations are not taken back.  With another number of
 * tenant accounts, the policy's own comes back alone.
 */

static void
ngx_http_llmopt_guard_restore(ngx_http_llmopt_main_conf_t *lmcf,
    const llmopt_snapshot_entry_t *e, unsigned ne, ngx_log_t *log)
{
    size_t                          acct;
    ngx_uint_t                      i, k;
    llmopt_canary_t                 cs;
    ngx_http_llmopt_budget_t       *b;
    llmopt_budget_account_t        *a;
    const llmopt_snapshot_entry_t  *found;
    ngx_http_llmopt_policy_rt_t    *prt;

    prt = lmcf->policies.elts;
    acct = sizeof(llmopt_budget_account_t);

    for (i = 0; i < lmcf->policies.nelts; i++) {
        b = prt[i].stats->budget;

        if (!prt[i].policy->budgeted || b == NULL) {
            continue;
        }

        found = ngx_http_llmopt_state_find(e, ne, "budget", &prt[i].name,
                                           NGX_HTTP_LLMOPT_BUDGET_SHAPE);

        if (found == NULL || found->size < acct || found->size % acct) {
            continue;
        }

        ngx_memcpy(&b->policy, found->params, acct);

        if (found->size == (b->n + 1) * acct) {
            ngx_memcpy(b->tenants, (u_char *) found->params + acct,
                       b->n * acct);
        }

        for (k = 0; k <= b->n; k++) {
            a = k == b->n ? &b->policy : &b->tenants[k];
            a->held[0] = 0;
            a->held[1] = 0;
            a->outage[0] = 0;
            a->outage[1] = 0;
            a->synced[0] = 0;           /* grants since the checkpoint */
            a->synced[1] = 0;           /*   may have been spent */
        }

        b->policy.key = LLMOPT_BUDGET_POLICY;

        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "llmopt_state_file \"%V\": the budget of policy "
                      "\"%V\" restored", &lmcf->state_file, &prt[i].name);
    }

    /* the variants' tallies, for the same arms and variants */

    for (i = 0; i < lmcf->policies.nelts; i++) {
        if (prt[i].policy->n_variants == 0 || prt[i].stats->variants == NULL)
        {
            continue;
        }

        found = ngx_http_llmopt_state_find(e, ne, "variants", &prt[i].name,
                                           NGX_HTTP_LLMOPT_VARIANT_SHAPE
                                           ^ prt[i].shape
                                           ^ prt[i].stats->variants_shape);

        if (found == NULL || found->size != NGX_HTTP_LLMOPT_VARIANTS) {
            continue;
        }

        ngx_memcpy(prt[i].stats->variants, found->params, found->size);

        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "llmopt_state_file \"%V\": the variants of policy "
                      "\"%V\" restored", &lmcf->state_file, &prt[i].name);
    }

    /* a canary goes on where it was, if its configuration is the same */

    for (i = 0; i < lmcf->policies.nelts; i++) {
        if (prt[i].policy->canary.arm < 0) {
            continue;
        }

        found = ngx_http_llmopt_state_find(e, ne, "canary", &prt[i].name,
                                           NGX_HTTP_LLMOPT_CANARY_SHAPE);

        if (found == NULL || found->size != sizeof(cs)) {
            continue;
        }

        ngx_memcpy(&cs, found->params, sizeof(cs));

        if (ngx_http_llmopt_canary_restore(&prt[i], &cs) != NGX_OK) {
            continue;
        }

        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "llmopt_state_file \"%V\": the canary of policy "
                      "\"%V\" restored (%s at %.0f%%)", &lmcf->state_file,
                      &prt[i].name, llmopt_canary_state_name(cs.state),
                      prt[i].policy->canary.stages[cs.stage] * 100);
    }
}


/*
 * What lets a restart keep learned state arm by arm, as a reload does:
 * "arms:<policy>", the names of the arms of the policy's entry, and
 * "attic0:<policy>", "attic1:<policy>", the zone's attic (arms removed by
 * the last two changes of the policy's arms) with their names, each of
 * the shape of its layout.  A names record is a uint64_t count, then that
 * many names of LLMOPT_CATALOG_NAME_MAX + 1 bytes, NUL-padded; an attic
 * entry has its parameter block after them.
 */

#define NGX_HTTP_LLMOPT_ARM_NAME  (LLMOPT_CATALOG_NAME_MAX + 1)

static ngx_uint_t
ngx_http_llmopt_arm_entries(ngx_http_llmopt_main_conf_t *lmcf,
    llmopt_snapshot_entry_t *e, ngx_log_t *log)
{
    u_char                       *p;
    uint64_t                      count;
    ngx_uint_t                    i, k, n, a, arms;
    const char                   *kind;
    ngx_http_llmopt_block_t      *b;
    ngx_http_llmopt_policy_rt_t  *prt;

    prt = lmcf->policies.elts;
    n = 0;

    for (i = 0; i < lmcf->policies.nelts; i++) {

        for (k = 0; k < 3; k++) {
            b = k == 0 ? prt[i].block : prt[i].attic[k - 1];
            if (b == NULL) {
                continue;
            }

            kind = k == 0 ? "arms" : k == 1 ? "attic0" : "attic1";
            arms = sizeof(uint64_t) + b->n_arms * NGX_HTTP_LLMOPT_ARM_NAME;

            p = ngx_http_llmopt_state_entry(&e[n], kind, &prt[i].name,
                                            b->layout,
                                            k == 0 ? arms : arms + b->size,
                                            log);
            if (p == NULL) {
                continue;
            }

            count = b->n_arms;
            ngx_memcpy(p, &count, sizeof(uint64_t));

            for (a = 0; a < b->n_arms; a++) {
                ngx_memcpy(p + sizeof(uint64_t) + a * NGX_HTTP_LLMOPT_ARM_NAME,
                           b->arm[a], NGX_HTTP_LLMOPT_ARM_NAME);
            }

            if (k > 0) {
                /* an attic block is never written again: no seqlock */
                ngx_memcpy(p + arms, b->params, b->size);
            }

            n++;
        }
    }

    return n;
}


/*
 * A block of the file, for ngx_http_llmopt_zone_carry(): its names from
 * the names record, its parameters from params.  A block of another size
 * than the policy's bandit makes for its arm count gets layout 0, so that
 * its arms are reported, never read.  NULL if malformed.
 */

static ngx_http_llmopt_block_t *
ngx_http_llmopt_arm_block(ngx_http_llmopt_policy_rt_t *prt,
    const llmopt_snapshot_entry_t *names, const void *params, size_t size,
    ngx_log_t *log)
{
    uint64_t                  count;
    ngx_uint_t                a;
    llmopt_bandit_conf_t      conf;
    ngx_http_llmopt_block_t  *b;

    if (names->size < sizeof(uint64_t)) {
        return NULL;
    }

    ngx_memcpy(&count, names->params, sizeof(uint64_t));

    if (count == 0 || count > LLMOPT_MAX_ARMS
        || names->size < sizeof(uint64_t) + count * NGX_HTTP_LLMOPT_ARM_NAME)
    {
        return NULL;
    }

    b = ngx_alloc(offsetof(ngx_http_llmopt_block_t, params) + size, log);
    if (b == NULL) {
        return NULL;
    }

    ngx_memzero(b, offsetof(ngx_http_llmopt_block_t, params));

    b->n_arms = count;
    b->size = size;
    b->layout = names->shape;

    for (a = 0; a < count; a++) {
        ngx_memcpy(b->arm[a], (u_char *) names->params + sizeof(uint64_t)
                              + a * NGX_HTTP_LLMOPT_ARM_NAME,
                   LLMOPT_CATALOG_NAME_MAX);
    }

    ngx_memcpy(b->params, params, size);

    conf = prt->policy->bandit;
    conf.n_arms = count;

    /* llmopt_bandit_copy_arm() checks the rest before it reads */

    if (size != llmopt_bandit_size(&conf)) {
        b->layout = 0;
    }

    return b;
}


/*
 * A policy whose entry in the file has another shape (or none): its arms
 * come back one by one, by name, from the entry and the attic entries, as
 * on a reload, and the zone's attic gets the file's blocks; with "whole"
 * (the entry came back as it is), only the attic.  Returns the number of
 * arms restored with updates.
 */

static ngx_uint_t
ngx_http_llmopt_arms_restore(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_policy_rt_t *prt, const llmopt_snapshot_entry_t *found,
    ngx_uint_t whole, const llmopt_snapshot_entry_t *e, unsigned ne,
    ngx_log_t *log)
{
    size_t                          arms;
    uint64_t                        count;
    ngx_uint_t                      k, a, n;
    const char                     *kind;
    const llmopt_snapshot_entry_t  *names;
    ngx_http_llmopt_block_t        *from[3];

    from[0] = NULL;
    from[1] = NULL;
    from[2] = NULL;

    for (k = 0; k < 3; k++) {
        kind = k == 0 ? "arms" : k == 1 ? "attic0" : "attic1";

        names = ngx_http_llmopt_state_find_any(e, ne, kind, &prt->name);
        if (names == NULL) {
            continue;
        }

        if (k == 0) {
            if (found != NULL) {
                from[0] = ngx_http_llmopt_arm_block(prt, names, found->params,
                                                    found->size, log);
            }

            continue;
        }

        if (names->size < sizeof(uint64_t)) {
            continue;
        }

        ngx_memcpy(&count, names->params, sizeof(uint64_t));

        if (count > LLMOPT_MAX_ARMS) {
            continue;
        }

        arms = sizeof(uint64_t) + count * NGX_HTTP_LLMOPT_ARM_NAME;

        if (names->size <= arms) {
            continue;
        }

        from[k] = ngx_http_llmopt_arm_block(prt, names,
                                            (u_char *) names->params + arms,
                                            names->size - arms, log);
    }

    n = 0;

    if (whole) {
        /* the policy's own entry came back whole: only the attic here */
        ngx_http_llmopt_zone_attic(lmcf, prt, from[1], from[2]);
        goto done;
    }

    if (from[0] == NULL && from[1] == NULL && from[2] == NULL) {
        if (found != NULL) {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "llmopt_state_file \"%V\": policy \"%V\" "
                          "changed its arms, features or algorithm and the "
                          "file has no names of its arms; it starts anew",
                          &lmcf->state_file, &prt->name);
        }

        goto done;
    }

    ngx_http_llmopt_zone_carry(prt->block, prt, from, log);

    for (a = 0; a < prt->n_arms; a++) {
        n += llmopt_bandit_arm_count(&prt->policy->bandit, prt->block->params,
                                     a) > 0;
    }

    if (prt->local != NULL) {
        ngx_memcpy(prt->local->params, prt->block->params,
                   prt->block->size);
    }

    ngx_http_llmopt_zone_attic(lmcf, prt, from[0], from[1]);

done:

    for (k = 0; k < 3; k++) {
        if (from[k] != NULL) {
            ngx_free(from[k]);
        }
    }

    return n;
}

/*
 * The state file: the trainer's copies of every policy, written to a
 * temporary file beside it, synced and renamed over it, so a crash leaves
 * the old file or the new one, never half of one.
 */

ngx_int_t
ngx_http_llmopt_state_checkpoint(ngx_http_llmopt_main_conf_t *lmcf,
    uint64_t now, ngx_log_t *log)
{
    u_char                       *buf, *tmp;
    size_t                        size;
    ssize_t                       n;
    ngx_fd_t                      fd;
    ngx_uint_t                    i, np, extra;
    llmopt_snapshot_entry_t      *e;
    ngx_http_llmopt_policy_rt_t  *prt;

    lmcf->checkpoint_ms = now;

    np = lmcf->policies.nelts;
    prt = lmcf->policies.elts;

    e = ngx_alloc((NGX_HTTP_LLMOPT_STATE_PER_POLICY * np + 1)
                  * sizeof(llmopt_snapshot_entry_t), log);
    if (e == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < np; i++) {
        e[i].name = (const char *) prt[i].name.data;
        e[i].name_len = prt[i].name.len;
        e[i].shape = prt[i].shape;
        e[i].params = lmcf->tpolicies[i].work;
        e[i].size = lmcf->tpolicies[i].size;
    }

    /* the fleet's part of the model (llmopt_redis), "fleet:<policy>";
       the budgets' accounts, so that a restart does not spend a day's
       cap again, "budget:<policy>"; the canaries, "canary:<policy>";
       the prompt variants' tallies, "variants:<policy>";
       the names of the arms and the attic, "arms:", "attic0:", "attic1:";
       the sparse policies' tables, "sparse:<policy>", and with
       llmopt_redis this instance's own part, "sparse-local:<policy>" */

    extra = ngx_http_llmopt_fleet_entries(lmcf, &e[np], log);
    extra += ngx_http_llmopt_guard_entries(lmcf, &e[np + extra], log);
    extra += ngx_http_llmopt_arm_entries(lmcf, &e[np + extra], log);
    extra += ngx_http_llmopt_sparse_entries(lmcf, &e[np + extra], log);
    np += extra;

    size = llmopt_snapshot_size(e, np);

    buf = ngx_alloc(size, log);
    tmp = ngx_alloc(lmcf->state_file.len + sizeof(".tmp.") + NGX_INT_T_LEN,
                    log);

    if (buf == NULL || tmp == NULL) {
        goto failed;
    }

    if (llmopt_snapshot_encode(buf, size, now, lmcf->catalog.version, e, np)
        != LLMOPT_OK)
    {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "llmopt_state_file \"%V\": cannot encode the state",
                      &lmcf->state_file);
        goto failed;
    }

    ngx_sprintf(tmp, "%V.tmp.%P%Z", &lmcf->state_file, ngx_pid);

    fd = ngx_open_file(tmp, NGX_FILE_WRONLY, NGX_FILE_TRUNCATE,
                       NGX_FILE_DEFAULT_ACCESS);
    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "llmopt_state_file: " ngx_open_file_n " \"%s\" failed",
                      tmp);
        goto failed;
    }

    n = write(fd, buf, size);

    if (n != (ssize_t) size || fsync(fd) == -1) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "llmopt_state_file: write to \"%s\" failed", tmp);
        (void) ngx_close_file(fd);
        (void) ngx_delete_file(tmp);
        goto failed;
    }

    (void) ngx_close_file(fd);

    if (ngx_rename_file(tmp, lmcf->state_file.data) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "llmopt_state_file: " ngx_rename_file_n
                      " \"%s\" to \"%V\" failed", tmp, &lmcf->state_file);
        (void) ngx_delete_file(tmp);
        goto failed;
    }

    ngx_free(tmp);
    ngx_free(buf);
    ngx_http_llmopt_guard_entries_free(&e[np - extra], extra);
    ngx_free(e);

    lmcf->checkpoint_updates = lmcf->trainer.updates;

    (void) ngx_atomic_fetch_add(&lmcf->sh->trainer.checkpoints, 1);
    lmcf->sh->trainer.checkpoint_ms = now;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                   "llmopt state file \"%V\" written", &lmcf->state_file);

    return NGX_OK;

failed:

    if (tmp) {
        ngx_free(tmp);
    }

    if (buf) {
        ngx_free(buf);
    }

    ngx_http_llmopt_guard_entries_free(&e[np - extra], extra);
    ngx_free(e);

    (void) ngx_atomic_fetch_add(&lmcf->sh->trainer.checkpoint_errors, 1);

    return NGX_ERROR;
}


/*
 * At start (a new zone, not a reload), learned parameters come back from
 * the state file, policy by policy: a policy whose shape changed starts
 * anew.  A missing file is normal; a damaged or foreign one is reported
 * and ignored.
 */

ngx_int_t
ngx_http_llmopt_state_restore(ngx_log_t *log,
    ngx_http_llmopt_main_conf_t *lmcf)
{
    int                             rc;
    u_char                         *buf;
    ssize_t                         n;
    unsigned                        ne;
    uint64_t                        created, catalog;
    ngx_fd_t                        fd;
    ngx_uint_t                      i, restored;
    ngx_file_info_t                 fi;
    llmopt_err_t                    err;
    llmopt_snapshot_entry_t        *e;
    const llmopt_snapshot_entry_t  *found;
    ngx_http_llmopt_policy_rt_t    *prt;

    if (lmcf->state_file.len == 0) {
        return NGX_OK;
    }

    fd = ngx_open_file(lmcf->state_file.data, NGX_FILE_RDONLY,
                       NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        if (ngx_errno != NGX_ENOENT) {
            ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                          "llmopt_state_file \"%V\" cannot be read; "
                          "learning starts anew", &lmcf->state_file);
        }

        return NGX_OK;
    }

    buf = NULL;
    e = NULL;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > 512 * 1024 * 1024)
    {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "llmopt_state_file \"%V\" is not a state file; "
                      "ignored", &lmcf->state_file);
        goto done;
    }

    buf = ngx_alloc(ngx_file_size(&fi) + 8, log);
    e = ngx_alloc(256 * sizeof(llmopt_snapshot_entry_t), log);

    if (buf == NULL || e == NULL) {
        goto done;
    }

    n = read(fd, buf, ngx_file_size(&fi));

    if (n != (ssize_t) ngx_file_size(&fi)) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "llmopt_state_file \"%V\": read failed; ignored",
                      &lmcf->state_file);
        goto done;
    }

    ngx_memzero(&err, sizeof(llmopt_err_t));
    ne = 256;

    rc = llmopt_snapshot_decode(buf, n, e, &ne, &created, &catalog, &err);

    if (rc == LLMOPT_AGAIN) {
        /* more entries than 256 (about 9 a policy): the room they need */
        ngx_free(e);
        e = ngx_alloc(ne * sizeof(llmopt_snapshot_entry_t), log);
        if (e == NULL) {
            goto done;
        }

        rc = llmopt_snapshot_decode(buf, n, e, &ne, &created, &catalog,
                                    &err);
    }

    if (rc != LLMOPT_OK) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "llmopt_state_file \"%V\": %s; ignored, learning "
                      "starts anew", &lmcf->state_file, err.msg);
        goto done;
    }

    prt = lmcf->policies.elts;
    restored = 0;

    for (i = 0; i < lmcf->policies.nelts; i++) {
        found = llmopt_snapshot_find(e, ne, (const char *) prt[i].name.data,
                                     prt[i].name.len);

        if (found == NULL
            || found->shape != prt[i].shape
            || found->size != prt[i].block->size
            || llmopt_bandit_check(&prt[i].policy->bandit, found->params)
               != LLMOPT_OK)
        {
            /* arm by arm, what still applies */
            if (ngx_http_llmopt_arms_restore(lmcf, &prt[i], found, 0, e, ne,
                                             log))
            {
                restored++;
            }

            continue;
        }

        ngx_memcpy(prt[i].block->params, found->params, found->size);

        if (prt[i].local != NULL) {
            ngx_memcpy(prt[i].local->params, found->params, found->size);
        }

        (void) ngx_http_llmopt_arms_restore(lmcf, &prt[i], found, 1, e, ne,
                                            log);
        restored++;
    }

    ngx_http_llmopt_fleet_restore(lmcf, e, ne, log);
    ngx_http_llmopt_guard_restore(lmcf, e, ne, log);
    ngx_http_llmopt_sparse_restore(lmcf, e, ne, log);

    lmcf->sh->trainer.restored = restored;

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "llmopt_state_file \"%V\": %ui of %ui policies restored",
                  &lmcf->state_file, restored, lmcf->policies.nelts);

done:

    (void) ngx_close_file(fd);

    if (buf) {
        ngx_free(buf);
    }

    if (e) {
        ngx_free(e);
    }

    return NGX_OK;
}
