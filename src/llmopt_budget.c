/*
 * Copyright (C) llmopt authors
 *
 * Budgets: the counting of reservations, costs and grants of an account
 * (see llmopt_budget.h).
 */


#include <math.h>
#include <string.h>

#include "llmopt_budget.h"


#define LLMOPT_DAY_MS   86400000ULL


static unsigned
llmopt_budget_leap(unsigned year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}


static unsigned
llmopt_budget_month_days(unsigned year, unsigned month)
{
    static const unsigned char  days[12] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    return days[month] + (month == 1 && llmopt_budget_leap(year));
}


/*
 * The month (since 1970-01) of a day (since 1970-01-01), and the day the
 * month after it begins.
 */

static uint32_t
llmopt_budget_month(uint32_t day, uint32_t *next)
{
    unsigned  year, month, len;
    uint32_t  first;

    first = 0;

    for (year = 1970; ; year++) {
        len = llmopt_budget_leap(year) ? 366 : 365;

        if (day < first + len) {
            break;
        }

        first += len;
    }

    for (month = 0; ; month++) {
        len = llmopt_budget_month_days(year, month);

        if (day < first + len) {
            break;
        }

        first += len;
    }

    *next = first + len;

    return (year - 1970) * 12 + month;
}


void
llmopt_budget_periods(uint64_t now_ms, uint32_t period[2])
{
    uint32_t  next;

    period[LLMOPT_BUDGET_DAY] = (uint32_t) (now_ms / LLMOPT_DAY_MS);
    period[LLMOPT_BUDGET_MONTH] =
        llmopt_budget_month(period[LLMOPT_BUDGET_DAY], &next);
}


uint64_t
llmopt_budget_period_end(uint64_t now_ms, unsigned which)
{
    uint32_t  day, next;

    day = (uint32_t) (now_ms / LLMOPT_DAY_MS);

    if (which == LLMOPT_BUDGET_DAY) {
        return (uint64_t) (day + 1) * LLMOPT_DAY_MS;
    }

    (void) llmopt_budget_month(day, &next);

    return (uint64_t) next * LLMOPT_DAY_MS;
}


int64_t
llmopt_budget_nusd(double usd)
{
    if (!(usd > 0)) {
        return 0;
    }

    if (usd > 9e9) {
        usd = 9e9;                    /* 9e18 nUSD: still an int64_t */
    }

    return (int64_t) llround(usd * LLMOPT_BUDGET_NUSD);
}


void
llmopt_budget_roll(llmopt_budget_account_t *acct, const uint32_t period[2])
{
    unsigned  p;

    for (p = 0; p < 2; p++) {
        if (acct->period[p] != period[p]) {
            if (p == LLMOPT_BUDGET_DAY) {
                acct->need = 0;
            }

            acct->period[p] = period[p];
            acct->spent[p] = 0;
            acct->granted[p] = 0;
            acct->granted_all[p] = 0;
            acct->others[p] = 0;
            acct->outage[p] = 0;
            acct->synced[p] = 0;
        }
    }
}


int64_t
llmopt_budget_left(const llmopt_budget_account_t *acct, const int64_t cap[2],
    unsigned shared, unsigned *which)
{
    int64_t   left, l, limit;
    unsigned  p;

    left = INT64_MAX;
    *which = LLMOPT_BUDGET_DAY;

    for (p = 0; p < 2; p++) {
        if (cap[p] <= 0) {
            continue;
        }

        limit = cap[p];

        if (shared
            && (acct->granted_all[p] || acct->spent[p]
                || llmopt_budget_reserved(acct)))
        {
            /* the first request of a period needs no grant: it goes on
               while the first grant is asked for */
            limit = acct->granted[p] + acct->outage[p];
        }

        if (limit > cap[p]) {
            limit = cap[p];
        }

        l = limit - acct->spent[p] - llmopt_budget_reserved(acct);

        if (l < left) {
            left = l;
            *which = p;
        }
    }

    return left;
}


double
llmopt_budget_used(const llmopt_budget_account_t *acct, const int64_t cap[2])
{
    double    used, u;
    unsigned  p;

    used = 0;

    for (p = 0; p < 2; p++) {
        if (cap[p] <= 0) {
            continue;
        }

        u = (double) llmopt_budget_fleet(acct, p) / (double) cap[p];

        if (u > used) {
            used = u;
        }
    }

    return used;
}


int64_t
llmopt_budget_fleet(const llmopt_budget_account_t *acct, unsigned p)
{
    return acct->others[p] + acct->spent[p] + llmopt_budget_reserved(acct);
}


unsigned
llmopt_budget_mask(const int64_t *cost, unsigned n, unsigned char *allowed,
    int64_t left, unsigned near)
{
    int64_t   sorted[64], median, c;
    unsigned  a, i, k, count;

    count = 0;

    for (a = 0; a < n; a++) {
        if (allowed[a] && cost[a] > left) {
            allowed[a] = 0;
        }

        count += allowed[a] != 0;
    }

    if (!near || count < 2 || n > 64) {
        return count;
    }

    /* the lower median of the estimates still allowed, by insertion */

    k = 0;

    for (a = 0; a < n; a++) {
        if (!allowed[a]) {
            continue;
        }

        c = cost[a];

        for (i = k; i > 0 && sorted[i - 1] > c; i--) {
            sorted[i] = sorted[i - 1];
        }

        sorted[i] = c;
        k++;
    }

    median = sorted[(k - 1) / 2];
    count = 0;

    for (a = 0; a < n; a++) {
        if (allowed[a] && cost[a] > median) {
            allowed[a] = 0;
        }

        count += allowed[a] != 0;
    }

    return count;
}


uint32_t
llmopt_budget_window(uint64_t now_ms)
{
    return (uint32_t) (now_ms / LLMOPT_BUDGET_WINDOW_MS);
}


void
llmopt_budget_age(llmopt_budget_account_t *acct, uint32_t window)
{
    unsigned  b;

    for (b = 0; b < 2; b++) {
        if (acct->window[b] + 1 < window) {
            acct->held[b] = 0;
        }
    }
}


void
llmopt_budget_reserve(llmopt_budget_account_t *acct, int64_t estimate,
    uint32_t window)
{
    unsigned  b;

    b = window & 1;

    if (acct->window[b] != window) {
        /* the bucket of two windows ago: what it holds goes */
        acct->held[b] = 0;
        acct->window[b] = window;
    }

    acct->held[b] += estimate;
}


void
llmopt_budget_settle(llmopt_budget_account_t *acct, int64_t estimate,
    int64_t cost, const uint32_t period[2], uint32_t window)
{
    unsigned  p, b;

    b = window & 1;

    if (estimate > 0 && acct->window[b] == window) {
        if (estimate > acct->held[b]) {
            estimate = acct->held[b];
        }

        acct->held[b] -= estimate;
    }

    if (cost <= 0) {
        return;
    }

    for (p = 0; p < 2; p++) {
        if (acct->period[p] == period[p]) {
            acct->spent[p] += cost;
        }
    }
}


int64_t
llmopt_budget_want(const llmopt_budget_account_t *acct, const int64_t cap[2],
    double chunk, unsigned p)
{
    int64_t  want, left;

    if (cap[p] <= 0 || acct->granted_all[p] >= cap[p]) {
        return 0;
    }

    want = (int64_t) ((double) cap[p] * chunk);

    if (acct->need > cap[p] / 2) {
        want = cap[p];                  /* and no overflow of 2 * need */

    } else if (want < 2 * acct->need) {
        want = 2 * acct->need;
    }

    if (want < 1) {
        want = 1;
    }

    left = acct->granted[p] - acct->spent[p] - llmopt_budget_reserved(acct);

    return left < want ? want : 0;
}


int64_t
llmopt_budget_claim(const llmopt_budget_account_t *acct, unsigned p,
    int64_t *used)
{
    *used = acct->spent[p] + llmopt_budget_reserved(acct);

    return *used > acct->granted[p] ? *used : acct->granted[p];
}


unsigned
llmopt_budget_merge(llmopt_budget_account_t *acct, unsigned p,
    const llmopt_budget_reply_t *reply)
{
    unsigned  lost;

    lost = reply->old < acct->granted[p];

    if (reply->old > acct->granted[p] && !acct->synced[p]) {
        /* granted before the state here was lost: it may have been
           spent */
        acct->spent[p] += reply->old - acct->granted[p];
    }

    acct->synced[p] = 1;

    acct->granted[p] = reply->mine;
    acct->granted_all[p] = reply->all;
    acct->others[p] = reply->others > 0 ? reply->others : 0;
    acct->outage[p] = 0;

    return lost;
}


void
llmopt_budget_outage(llmopt_budget_account_t *acct, const int64_t cap[2],
    double share, unsigned live)
{
    unsigned  p;

    for (p = 0; p < 2; p++) {
        acct->outage[p] = cap[p] > 0 && share > 0
                          ? (int64_t) ((double) cap[p] * share
                                       / (live ? live : 1))
                          : 0;
    }
}


const char *
llmopt_budget_mode_name(unsigned mode)
{
    static const char  *names[] = { "alone", "shared", "outage",
                                    "reseeding" };

    return mode < 4 ? names[mode] : "alone";
}


llmopt_budget_account_t *
llmopt_budget_find(llmopt_budget_account_t *accounts, unsigned n,
    uint64_t key, const uint32_t period[2], unsigned create)
{
    unsigned                  i, k;
    llmopt_budget_account_t  *acct, *free_slot;

    if (n == 0 || key == 0) {
        return NULL;
    }

    free_slot = NULL;

    for (k = 0; k < LLMOPT_BUDGET_PROBES && k < n; k++) {
        i = (unsigned) ((key + k) % n);
        acct = &accounts[i];

        if (acct->key == key) {
            return acct;
        }

        if (free_slot != NULL || !create) {
            continue;
        }

        if (acct->key == 0
            || (acct->period[LLMOPT_BUDGET_DAY] != period[LLMOPT_BUDGET_DAY]
                && acct->period[LLMOPT_BUDGET_MONTH]
                   != period[LLMOPT_BUDGET_MONTH]
                && llmopt_budget_reserved(acct) == 0))
        {
            free_slot = acct;
        }
    }

    if (free_slot == NULL) {
        return NULL;
    }

    memset(free_slot, 0, sizeof(llmopt_budget_account_t));
    free_slot->key = key;
    free_slot->period[0] = period[0];
    free_slot->period[1] = period[1];

    return free_slot;
}
