/*
 * Copyright (C) llmopt authors
 *
 * Budgets and canaries: periods, reservations and settlements, the mask
 * of arms near and at a cap, grants to ask Redis for, the fleet's
 * protocol (claims, Redis's answers, outages), the account table, the
 * gate of a canary stage, and both in the catalog.
 */

#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "test_alloc.h"
#include "llmopt_budget.h"
#include "llmopt_canary.h"
#include "llmopt_catalog.h"


static const char  catalog_text[] =
    "models:\n"
    "  small: {upstream: u, price: {input: 0.1, output: 0.4}}\n"
    "  big: {upstream: u, price: {input: 10, output: 30}}\n"
    "policies:\n"
    "  p:\n"
    "    algorithm: linucb\n"
    "    arms: [small, big]\n"
    "    budget: {day: 5, tenant_month: 20.5, near: 0.9, chunk: 0.1,\n"
    "             output_tokens: 256, tenants: 64, outage: 0.1}\n"
    "    canary: {arm: big, stages: [10, 50, 100], min_requests: 30,\n"
    "             max_cost_rise: 0.5}\n"
    "  q:\n"
    "    algorithm: static\n"
    "    arms: [small, big]\n"
    "    canary: {arm: small}\n";


static int
load(const char *text, llmopt_catalog_t *cat, llmopt_err_t *err)
{

    memset(err, 0, sizeof(llmopt_err_t));

    return llmopt_catalog_load_string(cat, "t.yaml", text, strlen(text),
                                      &test_allocator, err);
}


static void
test_catalog(void)
{
    unsigned                i;
    llmopt_err_t            err;
    llmopt_catalog_t        cat;
    const llmopt_policy_t  *p, *q;

    static const struct {
        const char  *budget;
        const char  *msg;
    } bad[] = {
        { "budget: {near: 0.5}", "states no cap" },
        { "budget: {day: -1}", "a number of USD > 0" },
        { "budget: {day: 1, near: 2}", "at most 1" },
        { "budget: {day: 1, outage: 1.5}", "a number from 0 to 1" },
        { "budget: {day: 1, whatever: 2}", "whatever" },
        { "budget: 5", "must be a mapping" },
        { "canary: {stages: [5]}", "missing required key \"arm\"" },
        { "canary: {arm: nope}", "must name an arm" },
        { "canary: {arm: a, stages: [50, 25]}", "must rise" },
        { "canary: {arm: a, stages: [0, 25]}", "a percentage" },
        { "canary: {arm: a, stages: []}", "a list of 1 to 8" },
        { "canary: {arm: a, max_quality_drop: -0.1}", "a number >= 0" },
    };

    is_int(load(catalog_text, &cat, &err), LLMOPT_OK, "catalog loads: %s",
           err.msg);

    p = llmopt_catalog_policy(&cat, "p", 1);
    q = llmopt_catalog_policy(&cat, "q", 1);

    is_int(p->budgeted, 1, "p has a budget");
    is_num(p->budget.cap[LLMOPT_BUDGET_DAY], 5, 0, "day cap");
    is_num(p->budget.cap[LLMOPT_BUDGET_MONTH], 0, 0, "no month cap");
    is_num(p->budget.tenant_cap[LLMOPT_BUDGET_MONTH], 20.5, 0,
           "tenant month cap");
    is_num(p->budget.near, 0.9, 0, "near");
    is_num(p->budget.chunk, 0.1, 0, "chunk");
    is_int(p->budget.output_tokens, 256, "output_tokens");
    is_int(p->budget.tenants, 64, "tenants");
    is_num(p->budget.outage, 0.1, 0, "outage allowance");
    is_int(q->budgeted, 0, "q has none");
    is_num(q->budget.near, 0.8, 0, "default near");
    is_num(q->budget.outage, 0, 0, "no outage allowance by default");

    is_int(p->canary.arm, 1, "canary arm: big");
    is_int(p->canary.n_stages, 3, "three stages");
    is_num(p->canary.stages[0], 0.1, 1e-12, "first at 10 %%");
    is_num(p->canary.stages[2], 1, 0, "last at 100 %%");
    is_int(p->canary.min_requests, 30, "min_requests");
    is_num(p->canary.max_quality_drop, 0.05, 0, "default quality gate");
    is_num(p->canary.max_cost_rise, 0.5, 0, "cost gate");
    is_num(p->canary.max_latency_rise, -1, 0, "latency not checked");
    is_int(q->canary.arm, 0, "q's canary: small");
    is_int(q->canary.n_stages, 4, "default stages");
    is_num(q->canary.stages[1], 0.25, 1e-12, "... 5, 25, 50, 100");

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char  text[512];

        (void) snprintf(text, sizeof(text),
                        "models:\n  a: {upstream: u, price: {input: 1, output: 1}}\n"
                        "  b: {upstream: u, price: {input: 1, output: 1}}\n"
                        "policies:\n  p:\n    algorithm: ucb1\n"
                        "    arms: [a, b]\n    %s\n", bad[i].budget);

        is_int(load(text, &cat, &err), LLMOPT_ERROR, "refused: %s",
               bad[i].budget);
        ok(strstr(err.msg, bad[i].msg) != NULL, "... \"%s\" in: %s",
           bad[i].msg, err.msg);
    }
}


static void
test_periods(void)
{
    uint32_t  period[2];

    /* 2026-12-01T03:00:00Z = 1796094000 s */
    llmopt_budget_periods(1796094000000ULL, period);
    is_int(period[LLMOPT_BUDGET_DAY], 20788, "day of 2026-12-01");
    is_int(period[LLMOPT_BUDGET_MONTH], 56 * 12 + 11, "month 2026-12");
    is_int(llmopt_budget_period_end(1796094000000ULL, LLMOPT_BUDGET_DAY),
           20789ULL * 86400000, "the day ends at midnight UTC");
    is_int(llmopt_budget_period_end(1796094000000ULL, LLMOPT_BUDGET_MONTH),
           (20788ULL + 31) * 86400000, "the month at 2027-01-01");

    /* 2024-02-29T12:00:00Z, a leap day */
    llmopt_budget_periods(1709208000000ULL, period);
    is_int(period[LLMOPT_BUDGET_MONTH], 54 * 12 + 1, "month 2024-02");
    is_int(llmopt_budget_period_end(1709208000000ULL, LLMOPT_BUDGET_MONTH),
           1709251200000ULL, "ends 2024-03-01");

    llmopt_budget_periods(0, period);
    is_int(period[0], 0, "epoch: day 0");
    is_int(period[1], 0, "epoch: month 0");
}


static void
test_account(void)
{
    int64_t                   cap[2], left, cost[3];
    unsigned                  which, n;
    uint32_t                  period[2] = { 100, 3 }, next[2] = { 101, 3 };
    unsigned char             allowed[3];
    llmopt_budget_account_t   acct;

    memset(&acct, 0, sizeof(acct));
    llmopt_budget_roll(&acct, period);

    cap[LLMOPT_BUDGET_DAY] = llmopt_budget_nusd(1.0);
    cap[LLMOPT_BUDGET_MONTH] = llmopt_budget_nusd(10.0);
    is_int(cap[0], 1000000000, "$1 is 1e9 nUSD");
    is_int(llmopt_budget_nusd(0), 0, "0: no cap");
    is_int(llmopt_budget_nusd(-3), 0, "negative: no cap");

    left = llmopt_budget_left(&acct, cap, 0, &which);
    is_int(left, 1000000000, "all of the day is left");
    is_int(which, LLMOPT_BUDGET_DAY, "... the day binds");

    acct.held[0] = 300000000;
    acct.spent[0] = 500000000;
    acct.spent[1] = 9500000000;
    left = llmopt_budget_left(&acct, cap, 0, &which);
    is_int(left, 200000000, "day: 1 - .5 - .3");
    is_int(which, LLMOPT_BUDGET_DAY, "... binds");

    acct.spent[1] = 9600000000;
    left = llmopt_budget_left(&acct, cap, 0, &which);
    is_int(left, 100000000, "month: 10 - 9.6 - .3");
    is_int(which, LLMOPT_BUDGET_MONTH, "... binds");
    is_num(llmopt_budget_used(&acct, cap), 0.99, 1e-12, "99 %% of the month");

    left = llmopt_budget_left(&acct, cap, 1, &which);
    ok(left < 0, "shared, nothing granted: nothing left");

    {
        llmopt_budget_account_t  fresh;

        memset(&fresh, 0, sizeof(fresh));
        left = llmopt_budget_left(&fresh, cap, 1, &which);
        is_int(left, 1000000000, "shared, a period's first request needs "
               "no grant");
        llmopt_budget_reserve(&fresh, 10, 1);
        left = llmopt_budget_left(&fresh, cap, 1, &which);
        ok(left < 0, "... the second one does");
    }

    acct.granted[0] = 900000000;
    acct.granted[1] = 20000000000;
    left = llmopt_budget_left(&acct, cap, 1, &which);
    is_int(left, 100000000, "a grant above the cap counts as the cap");

    acct.held[0] = 0;
    llmopt_budget_reserve(&acct, 300000000, 7);
    is_int(llmopt_budget_reserved(&acct), 300000000, "reserved in window 7");
    llmopt_budget_settle(&acct, 300000000, 120000000, period, 7);
    is_int(llmopt_budget_reserved(&acct), 0, "settled: the estimate goes");
    is_int(acct.spent[0], 620000000, "... its cost counts in the day");
    is_int(acct.spent[1], 9720000000, "... and the month");

    llmopt_budget_reserve(&acct, 5, 7);
    llmopt_budget_roll(&acct, next);
    is_int(acct.spent[0], 0, "a new day starts at 0");
    is_int(acct.granted[0], 0, "... with no grant");
    is_int(acct.spent[1], 9720000000, "the month goes on");
    is_int(llmopt_budget_reserved(&acct), 5, "in flight stays in flight");
    llmopt_budget_settle(&acct, 10, 100, period, 7);
    is_int(llmopt_budget_reserved(&acct), 0, "reserved never goes below 0");
    is_int(acct.spent[0], 0, "a cost of yesterday is not today's");
    is_int(acct.spent[1], 9720000100, "... but is this month's");

    cost[0] = 100; cost[1] = 5000; cost[2] = 300;
    memset(allowed, 1, 3);
    n = llmopt_budget_mask(cost, 3, allowed, 1000, 0);
    is_int(n, 2, "the dear arm does not fit");
    is_int(allowed[1], 0, "... left out");

    memset(allowed, 1, 3);
    n = llmopt_budget_mask(cost, 3, allowed, 10000, 1);
    is_int(n, 2, "near the cap: the cheaper half (at most the median)");
    ok(allowed[0] && allowed[2] && !allowed[1], "... 100 and 300 stay");

    memset(allowed, 1, 3);
    allowed[2] = 0;
    n = llmopt_budget_mask(cost, 3, allowed, 10000, 1);
    is_int(n, 1, "of two, near: the cheaper one");
    is_int(allowed[0], 1, "... it is");

    memset(allowed, 1, 3);
    n = llmopt_budget_mask(cost, 3, allowed, 50, 0);
    is_int(n, 0, "nothing fits 50 nUSD");

    /* reservations held by windows */
    memset(&acct, 0, sizeof(acct));
    llmopt_budget_reserve(&acct, 100, 10);
    llmopt_budget_reserve(&acct, 20, 11);
    llmopt_budget_age(&acct, 11);
    is_int(llmopt_budget_reserved(&acct), 120, "windows 10 and 11 are held at 11");
    llmopt_budget_age(&acct, 12);
    is_int(llmopt_budget_reserved(&acct), 20, "at 12 what window 10 held goes");
    llmopt_budget_settle(&acct, 100, 0, period, 10);
    is_int(llmopt_budget_reserved(&acct), 20, "its late settle takes nothing from the rest");
    llmopt_budget_reserve(&acct, 7, 13);
    is_int(llmopt_budget_reserved(&acct), 7, "one in 13 takes 11's bucket, dropping what "
           "it held");
    llmopt_budget_reserve(&acct, 1, 15);
    is_int(llmopt_budget_reserved(&acct), 1, "one in 15 drops what 13 held");
    llmopt_budget_settle(&acct, 20, 0, period, 11);
    is_int(llmopt_budget_reserved(&acct), 1, "11's settle after its bucket was reused: no "
           "effect");
    llmopt_budget_age(&acct, 40);
    is_int(llmopt_budget_reserved(&acct), 0, "much later nothing is held");

    /* grants */
    memset(&acct, 0, sizeof(acct));
    llmopt_budget_roll(&acct, period);
    is_int(llmopt_budget_want(&acct, cap, 0.05, 0), 50000000,
           "nothing granted: ask 5 %% of the cap");
    acct.granted[0] = 60000000;
    is_int(llmopt_budget_want(&acct, cap, 0.05, 0), 0,
           "more than a chunk left: ask nothing");
    acct.held[0] = 20000000;
    is_int(llmopt_budget_want(&acct, cap, 0.05, 0), 50000000,
           "less than a chunk left: ask again");
    acct.need = 40000000;
    is_int(llmopt_budget_want(&acct, cap, 0.05, 0), 80000000,
           "a request dearer than half a chunk: ask for two of it");
    acct.need = INT64_MAX / 2 + 1;
    is_int(llmopt_budget_want(&acct, cap, 0.05, 0), cap[0],
           "an estimate above half the cap: ask for the cap, no overflow");
    acct.need = 40000000;
    acct.granted_all[0] = cap[0];
    is_int(llmopt_budget_want(&acct, cap, 0.05, 0), 0,
           "the whole cap is granted: nothing to ask");
    cap[0] = 0;
    is_int(llmopt_budget_want(&acct, cap, 0.05, 0), 0, "no cap: nothing");
}


/*
 * The fleet's protocol: what an instance claims, how Redis's answer is
 * taken in (an ordinary grant, a Redis that lost the record, an instance
 * that lost its state), what an outage allows, what "near" compares.
 */

static void
test_fleet(void)
{
    int64_t                  cap[2], used, left;
    unsigned                 which, lost;
    uint32_t                 period[2] = { 100, 3 };
    llmopt_budget_reply_t    reply;
    llmopt_budget_account_t  acct;

    cap[LLMOPT_BUDGET_DAY] = 1000;
    cap[LLMOPT_BUDGET_MONTH] = 0;

    memset(&acct, 0, sizeof(acct));
    llmopt_budget_roll(&acct, period);

    /* the period's first request went before any grant */
    llmopt_budget_reserve(&acct, 30, 1);
    is_int(llmopt_budget_claim(&acct, 0, &used), 30,
           "first request, no grant: the claim is what it holds");
    is_int(used, 30, "... and so is what it used");

    reply.old = 0; reply.mine = 30 + 100; reply.all = 130 + 200;
    reply.others = 150;
    lost = llmopt_budget_merge(&acct, 0, &reply);
    is_int(lost, 0, "an ordinary grant: nothing lost");
    is_int(acct.granted[0], 130, "the grant is Redis's record of it");
    is_int(acct.granted_all[0], 330, "granted to all: 330");
    is_int(acct.spent[0], 0, "nothing forgotten: spent unchanged");
    left = llmopt_budget_left(&acct, cap, 1, &which);
    is_int(left, 100, "left: the record less what it holds");
    is_int(llmopt_budget_fleet(&acct, 0), 180,
           "the fleet: the others' 150 and its own 30");
    is_num(llmopt_budget_used(&acct, cap), 0.18, 1e-12,
           "near compares the fleet's share, 18 %%");

    llmopt_budget_settle(&acct, 30, 20, period, 1);
    is_int(llmopt_budget_claim(&acct, 0, &used), 130,
           "within its grant: the claim is the grant");
    is_int(used, 20, "... it used 20");

    /* Redis lost its records: the script raised the record to the
       claim; the instance learns it was lost */
    reply.old = 0; reply.mine = 130; reply.all = 130; reply.others = 0;
    lost = llmopt_budget_merge(&acct, 0, &reply);
    is_int(lost, 1, "a record below the grant: Redis lost it");
    is_int(acct.granted[0], 130, "the grant stays what it was");
    is_int(acct.spent[0], 20, "... and so does the spend");

    /* the instance lost its state file: Redis remembers 500 granted */
    memset(&acct, 0, sizeof(acct));
    llmopt_budget_roll(&acct, period);
    reply.old = 500; reply.mine = 550; reply.all = 900; reply.others = 300;
    is_int(acct.synced[0], 0, "a new account has not followed the period");
    lost = llmopt_budget_merge(&acct, 0, &reply);
    is_int(lost, 0, "a record above what it remembers is not a loss");
    is_int(acct.synced[0], 1, "... from now it follows it");
    is_int(acct.spent[0], 500, "what it forgot it was granted counts as spent");
    is_int(acct.granted[0], 550, "its grant is the record");
    left = llmopt_budget_left(&acct, cap, 1, &which);
    is_int(left, 50, "... so only the new 50 is left to spend");
    is_int(llmopt_budget_fleet(&acct, 0), 800, "fleet: 300 + 500");

    /* following the period, it missed an answer (a timeout): the grant
       it did not hear of is not spent */
    reply.old = 600; reply.mine = 600; reply.all = 950; reply.others = 300;
    lost = llmopt_budget_merge(&acct, 0, &reply);
    is_int(lost, 0, "a missed answer is no loss");
    is_int(acct.spent[0], 500, "... and not spent");
    is_int(acct.granted[0], 600, "... its grant is now the record");
    acct.granted[0] = 550;
    reply.old = 550; reply.mine = 550; reply.all = 900;

    /* an outage: nothing more without an allowance */
    llmopt_budget_outage(&acct, cap, 0, 2);
    is_int(acct.outage[0], 0, "no allowance: nothing beyond the grant");
    left = llmopt_budget_left(&acct, cap, 1, &which);
    is_int(left, 50, "... what it holds");

    llmopt_budget_outage(&acct, cap, 0.1, 2);
    is_int(acct.outage[0], 50, "allowance 10 %% of 1000 over 2 live: 50");
    is_int(acct.outage[1], 0, "... none in an uncapped period");
    left = llmopt_budget_left(&acct, cap, 1, &which);
    is_int(left, 100, "... on top of the grant");
    llmopt_budget_outage(&acct, cap, 0.1, 0);
    is_int(acct.outage[0], 100, "no instance known: as if it were alone");

    llmopt_budget_reserve(&acct, 90, 1);
    llmopt_budget_settle(&acct, 90, 90, period, 1);
    is_int(llmopt_budget_claim(&acct, 0, &used), 590,
           "what it spent beyond its grant is claimed when Redis is back");
    reply.old = 550; reply.mine = 590; reply.all = 940; reply.others = 300;
    (void) llmopt_budget_merge(&acct, 0, &reply);
    is_int(acct.outage[0], 0, "back: the allowance goes");
    is_int(acct.granted[0], 590, "... and the record counts it");

    is_str(llmopt_budget_mode_name(LLMOPT_BUDGET_RESEEDING), "reseeding",
           "mode names");
    is_str(llmopt_budget_mode_name(LLMOPT_BUDGET_OUTAGE), "outage", "...");
}


static void
test_table(void)
{
    unsigned                  i, found;
    uint32_t                  period[2] = { 10, 1 }, later[2] = { 50, 2 };
    llmopt_budget_account_t   t[8], *a, *b;

    memset(t, 0, sizeof(t));

    a = llmopt_budget_find(t, 8, 42, period, 1);
    ok(a != NULL && a->key == 42, "a new key takes a slot");
    a->spent[0] = 7;
    b = llmopt_budget_find(t, 8, 42, period, 1);
    ok(a == b, "and finds it again");
    ok(llmopt_budget_find(t, 8, 43, period, 0) == NULL,
       "an unknown key is not created unless asked");
    ok(llmopt_budget_find(t, 8, 0, period, 1) == NULL, "key 0 is no key");

    found = 0;

    for (i = 0; i < 8; i++) {
        found += llmopt_budget_find(t, 8, 100 + i, period, 1) != NULL;
    }

    is_int(found, 7, "eight slots: seven more keys");
    ok(llmopt_budget_find(t, 8, 999, period, 1) == NULL, "then no room");

    b = llmopt_budget_find(t, 8, 999, later, 1);
    ok(b != NULL && b->key == 999 && b->spent[0] == 0,
       "a later month: a slot of the past is taken");
    a = llmopt_budget_find(t, 8, 42, period, 0);
    ok(a == NULL || a->spent[0] == 7, "the others are still found");
}


static void
test_canary(void)
{
    int                    v;
    unsigned               i;
    char                   why[256];
    llmopt_canary_conf_t   conf;
    llmopt_canary_side_t   canary, control;

    memset(&conf, 0, sizeof(conf));
    conf.arm = 1;
    conf.min_requests = 10;
    conf.max_quality_drop = 0.05;
    conf.max_cost_rise = 0.5;
    conf.max_latency_rise = -1;

    memset(&canary, 0, sizeof(canary));
    memset(&control, 0, sizeof(control));

    for (i = 0; i < 9; i++) {
        llmopt_canary_add(&canary, 0.9, 0.001, 100);
        llmopt_canary_add(&control, 0.9, 0.001, 100);
    }

    is_int(llmopt_canary_verdict(&conf, &canary, &control, why, sizeof(why)),
           LLMOPT_CANARY_WAIT, "9 answers each: wait");

    llmopt_canary_add(&canary, 0.9, 0.001, 5000);
    llmopt_canary_add(&control, 0.9, 0.001, 100);
    v = llmopt_canary_verdict(&conf, &canary, &control, why, sizeof(why));
    is_int(v, LLMOPT_CANARY_ADVANCE, "as good, slower (not checked): "
           "advance: %s", why);

    conf.max_latency_rise = 0.2;
    v = llmopt_canary_verdict(&conf, &canary, &control, why, sizeof(why));
    is_int(v, LLMOPT_CANARY_ROLLBACK, "latency checked: roll back: %s", why);
    ok(strstr(why, "latency") != NULL, "... for its latency");

    conf.max_latency_rise = -1;
    llmopt_canary_add(&canary, 0, 0.02, -1);
    v = llmopt_canary_verdict(&conf, &canary, &control, why, sizeof(why));
    is_int(v, LLMOPT_CANARY_ROLLBACK, "a bad, dear answer: roll back: %s",
           why);
    ok(strstr(why, "quality") != NULL, "... for its quality first");

    conf.max_quality_drop = 1;
    v = llmopt_canary_verdict(&conf, &canary, &control, why, sizeof(why));
    is_int(v, LLMOPT_CANARY_ROLLBACK, "quality let go: still its cost: %s",
           why);
    ok(strstr(why, "cost") != NULL, "... for its cost");

    is_str(llmopt_canary_state_name(LLMOPT_CANARY_ROLLED_BACK), "rolled_back",
           "state names");
}


int
main(void)
{
    test_catalog();
    test_periods();
    test_account();
    test_fleet();
    test_table();
    test_canary();

    test_free_all();

    return tap_done();
}
