/*
 * Copyright (C) llmopt authors
 *
 * Budgets: caps in USD on what a policy, and each tenant key of it, may
 * spend in a UTC day and a UTC month.  A request's estimated cost is
 * reserved when it is decided and replaced by its real cost when it ends;
 * a request that does not fit in what is left is refused.  Money is
 * counted in nano-USD, integers, so sums are exact in shared memory and
 * in Redis.
 *
 * An account holds one key's counts for the current day and month.  With
 * several instances, an instance spends only what Redis granted it
 * (granted[]); alone, its grant is the cap.  The caller keeps accounts
 * in an array and serialises access to them; these functions only count.
 *
 * The fleet's protocol (README, "Budgets"): Redis keeps, per period and
 * key, each instance's record (what it was granted, or spent when more)
 * and what it spent; a grant is taken from the cap less every record.
 * While Redis is away an instance spends what it holds (and the outage
 * allowance, if configured), and its record grows by what it spent when
 * Redis is back; a Redis that lost its records takes them back from the
 * instances (their claims) and grants nothing new until they all had
 * time to make them.  So the fleet spends at most the cap, plus one
 * estimate per instance, plus the outage allowance.
 */

#ifndef _LLMOPT_BUDGET_H_INCLUDED_
#define _LLMOPT_BUDGET_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define LLMOPT_BUDGET_DAY      0
#define LLMOPT_BUDGET_MONTH    1

#define LLMOPT_BUDGET_NUSD     1e9           /* nano-USD in a USD */
#define LLMOPT_BUDGET_POLICY   1             /* key of the policy's account */
#define LLMOPT_BUDGET_PROBES   16            /* slots a key may be in */

/*
 * A reservation is held for one to two windows at most: a request that
 * never ends (its worker was killed) does not keep its estimate for
 * longer; one that runs longer is counted by its cost when it ends.
 */
#define LLMOPT_BUDGET_WINDOW_MS  600000

/* how an instance shares its caps (llmopt_budget_mode_name) */
#define LLMOPT_BUDGET_ALONE      0           /* no Redis: the cap is its */
#define LLMOPT_BUDGET_SHARED     1           /* grants of Redis */
#define LLMOPT_BUDGET_OUTAGE     2           /* Redis away: what it holds */
#define LLMOPT_BUDGET_RESEEDING  3           /* Redis lost its records and
                                                takes them back: no new
                                                grants meanwhile */


typedef struct {
    double        cap[2];           /* USD a day, a month; 0: none */
    double        tenant_cap[2];    /* of each tenant key; 0: none */
    int64_t       cap_nusd[2];      /* the same in nUSD, set by the */
    int64_t       tenant_cap_nusd[2];  /*   catalog loader */
    double        near;             /* share of a cap past which only the
                                       cheaper arms may be chosen */
    uint64_t      output_tokens;    /* reserved when max_tokens is absent */
    unsigned      tenants;          /* accounts kept for tenant keys */
    double        chunk;            /* share of a cap asked of Redis at
                                       once */
    double        outage;           /* share of a cap the instances may
                                       spend beyond their grants, together,
                                       while Redis is away; 0: none */
} llmopt_budget_conf_t;


typedef struct {
    uint64_t      key;              /* 0: free; LLMOPT_BUDGET_POLICY; or a
                                       tenant key's hash, never 0 or 1 */
    uint32_t      period[2];        /* the day and month counted */
    int64_t       spent[2];         /* nUSD, requests that ended */
    int64_t       granted[2];       /* nUSD this instance may spend: its
                                       record in Redis */
    int64_t       granted_all[2];   /* nUSD granted to all instances, as
                                       of the last exchange */
    int64_t       others[2];        /* nUSD the other instances spent or
                                       had in flight, as of the last
                                       exchange */
    int64_t       outage[2];        /* nUSD it may spend beyond granted[]
                                       while Redis is away */
    int64_t       held[2];          /* nUSD, estimates in flight,
                                       reserved in window[b], by parity */
    uint32_t      window[2];        /* LLMOPT_BUDGET_WINDOW_MS windows */
    uint32_t      synced[2];        /* 1: every grant of the period was
                                       seen in this account's life (none
                                       came before its state was lost) */
    int64_t       need;             /* nUSD, the largest estimate asked
                                       for lately: a grant covers two */
    uint64_t      requests;         /* reserved, since the start */
} llmopt_budget_account_t;


/* nUSD of the estimates in flight. */
static inline int64_t
llmopt_budget_reserved(const llmopt_budget_account_t *acct)
{
    return acct->held[0] + acct->held[1];
}


/* The UTC day (days since 1970-01-01) and month (months since 1970-01)
   of a time in ms since the epoch. */
void llmopt_budget_periods(uint64_t now_ms, uint32_t period[2]);

/* When the day (LLMOPT_BUDGET_DAY) or month of now_ms ends, ms. */
uint64_t llmopt_budget_period_end(uint64_t now_ms, unsigned which);

/* A cap in nUSD (0 when none). */
int64_t llmopt_budget_nusd(double usd);

/* Starts the counts of every period of acct that is not period[]. */
void llmopt_budget_roll(llmopt_budget_account_t *acct,
    const uint32_t period[2]);

/*
 * nUSD a new reservation may take from acct under caps cap[] (nUSD, 0:
 * none): the least over the capped periods of the limit (the grant when
 * shared, else the cap) less what was spent and reserved; INT64_MAX when
 * nothing is capped.  *which is the period that binds.  Shared, the
 * first request of a period (nothing granted, spent or reserved yet) may
 * take up to the cap: one request's estimate is the most an instance can
 * overspend.
 */
int64_t llmopt_budget_left(const llmopt_budget_account_t *acct,
    const int64_t cap[2], unsigned shared, unsigned *which);

/*
 * The largest share of a cap the fleet spent or reserved (this instance's
 * own, and the others' as of the last exchange; alone, its own), 0 when
 * none is capped.  What "near" compares.
 */
double llmopt_budget_used(const llmopt_budget_account_t *acct,
    const int64_t cap[2]);

/* nUSD the fleet spent or reserved in period p, as far as known. */
int64_t llmopt_budget_fleet(const llmopt_budget_account_t *acct, unsigned p);

/*
 * Clears allowed[a] of the arms whose estimate cost[a] (nUSD) does not
 * fit in left; near: keeps only the cheaper half of the rest (those at
 * most the median estimate).  Returns the arms still allowed.
 */
unsigned llmopt_budget_mask(const int64_t *cost, unsigned n,
    unsigned char *allowed, int64_t left, unsigned near);

/* The window of a time, ms since the epoch. */
uint32_t llmopt_budget_window(uint64_t now_ms);

/* Lets go the reservations held since before the previous window. */
void llmopt_budget_age(llmopt_budget_account_t *acct, uint32_t window);

/* Holds estimate (nUSD) in window (the caller keeps it for the settle). */
void llmopt_budget_reserve(llmopt_budget_account_t *acct, int64_t estimate,
    uint32_t window);

/* A request ended: its estimate, held since window, goes (unless it went
   with its window); its cost counts in the periods it was reserved in
   (if still current). */
void llmopt_budget_settle(llmopt_budget_account_t *acct, int64_t estimate,
    int64_t cost, const uint32_t period[2], uint32_t window);

/*
 * What to ask Redis for in period p: chunk of the cap, or two of the
 * largest estimates lately asked for if more, when what is left of the
 * grant falls below that and other instances have not been given the
 * whole cap; else 0.
 */
int64_t llmopt_budget_want(const llmopt_budget_account_t *acct,
    const int64_t cap[2], double chunk, unsigned p);

/*
 * What this instance tells Redis of period p: returns its claim, the
 * record it should have (what it was granted, or what it spent and holds
 * when more: after the first request of a period or an outage
 * allowance); *used gets what it spent and holds.
 */
int64_t llmopt_budget_claim(const llmopt_budget_account_t *acct, unsigned p,
    int64_t *used);

/*
 * Redis's answer to an exchange of period p (the grant script): its
 * record of this instance before the exchange (old) and after it (mine:
 * the larger of old and the claim, plus what it granted), the records
 * of all instances together (all), what the others spent and hold
 * (others).
 */
typedef struct {
    int64_t       old;
    int64_t       mine;
    int64_t       all;
    int64_t       others;
} llmopt_budget_reply_t;

/*
 * Takes Redis's answer into acct for period p (still the account's): a
 * record larger than what the instance remembers being granted is an
 * answer it missed (a timeout) when the account followed the period
 * (synced), or else grants made before its state was lost (a restart
 * without the state file, or from an older one), which count as spent;
 * the grant becomes Redis's record, the outage allowance goes, and the
 * account follows the period from now.  A smaller record (Redis lost
 * it) was raised to the claim by the script.  Returns 1 when Redis had
 * lost this instance's record.
 */
unsigned llmopt_budget_merge(llmopt_budget_account_t *acct, unsigned p,
    const llmopt_budget_reply_t *reply);

/*
 * While Redis is away (live: the instances seen alive at the last
 * exchange, at least 1): what acct may spend beyond its grant in each
 * capped period, its even share of the allowance (share of the cap); 0
 * without an allowance.
 */
void llmopt_budget_outage(llmopt_budget_account_t *acct, const int64_t cap[2],
    double share, unsigned live);

/* "alone", "shared", "outage" or "reseeding". */
const char *llmopt_budget_mode_name(unsigned mode);

/*
 * The account of key in accounts[0 .. n - 1] (open addressing from the
 * key's hash); create: take a free slot or one whose periods are over
 * and that has nothing in flight.  NULL when there is no room.
 */
llmopt_budget_account_t *llmopt_budget_find(llmopt_budget_account_t *accounts,
    unsigned n, uint64_t key, const uint32_t period[2], unsigned create);


#endif /* _LLMOPT_BUDGET_H_INCLUDED_ */
