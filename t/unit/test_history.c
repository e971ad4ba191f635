/*
 * Copyright (C) llmopt authors
 *
 * The history's rings (llmopt_history.h) driven as the trainer drives
 * them, on a simulated clock: 49 hours of ticks at irregular intervals
 * with a counter that grows at random.  The 10-minute ring then holds 24
 * hours, a snapshot at each 10 minutes, and every point (the difference
 * of two snapshots, as the series gives it) counts exactly the events of
 * its 10 minutes; the minute ring holds 4 hours, the fine one 2½ minutes.
 */

#include <string.h>

#include "tap.h"
#include "llmopt_core.h"
#include "llmopt_history.h"
#include "llmopt_rng.h"


#define EVENTS_MAX  1000000
#define STEP_MAX    3000                 /* ms between two trainer ticks */
#define HOUR        3600000ULL


typedef struct {
    uint64_t      time_ms;
    uint64_t      count;                 /* events until then, cumulative */
} snap_t;


static snap_t    slots[LLMOPT_HISTORY_SLOTS];
static uint64_t  taken[LLMOPT_HISTORY_RINGS];
static uint64_t  events[EVENTS_MAX];     /* the time of each event */
static uint64_t  n_events;


static void test_layout(void);
static void test_due(void);
static void tick(uint64_t now);
static uint64_t events_in(uint64_t from, uint64_t to);
static void check_ring(unsigned ring, uint64_t now, uint64_t span_ms,
    const char *name);


int
main(void)
{
    uint64_t      now, start, i;
    unsigned      k;
    llmopt_rng_t  rng;

    test_layout();
    test_due();

    llmopt_rng_seed(&rng, 19);

    /* a wall clock not on any boundary */

    start = 1795000000000ULL + 12345;
    now = start;

    tick(now);

    /* five minutes in: one 10-minute snapshot, none older to read */

    while (now < start + 300000) {
        now += 20 + llmopt_rng_below(&rng, STEP_MAX - 20);
        tick(now);
    }

    is_int(taken[LLMOPT_HISTORY_DAY], now / 600000 > start / 600000 ? 2 : 1,
           "5 min: the day ring has its first snapshot (and one if a 10-min"
           " boundary passed)");
    ok(llmopt_history_back(LLMOPT_HISTORY_DAY, taken[LLMOPT_HISTORY_DAY],
                           (unsigned) taken[LLMOPT_HISTORY_DAY], &i)
       == LLMOPT_DECLINED, "5 min: nothing older than the first");

    while (now < start + 49 * HOUR) {
        now += 20 + llmopt_rng_below(&rng, STEP_MAX - 20);

        /* 0 to 3 events since the last tick, at random times within */

        for (k = llmopt_rng_below(&rng, 4); k > 0; k--) {
            if (n_events < EVENTS_MAX) {
                events[n_events++] = now - llmopt_rng_below(&rng, 20);
            }
        }

        tick(now);
    }

    ok(n_events > 100000 && n_events < EVENTS_MAX,
       "49 h: %llu events", (unsigned long long) n_events);

    check_ring(LLMOPT_HISTORY_DAY, now, 24 * HOUR, "day ring");
    check_ring(LLMOPT_HISTORY_MINUTE, now, 4 * HOUR, "minute ring");
    check_ring(LLMOPT_HISTORY_FINE, now, 150000, "fine ring");

    return tap_done();
}


/* the rings lie one after the other, as many slots as the glue sizes */

static void
test_layout(void)
{
    unsigned  r, first, ok_slots;
    uint64_t  i;

    first = 0;

    for (r = 0; r < LLMOPT_HISTORY_RINGS; r++) {
        is_int(llmopt_history_rings[r].first, first, "ring %u: its first slot",
               r);

        ok_slots = 1;

        for (i = 0; i < 3 * llmopt_history_rings[r].slots; i++) {
            if (llmopt_history_slot(r, i)
                != first + i % llmopt_history_rings[r].slots)
            {
                ok_slots = 0;
            }
        }

        ok(ok_slots, "ring %u: snapshot i in slot first + i mod %u", r,
           llmopt_history_rings[r].slots);

        first += llmopt_history_rings[r].slots;
    }

    is_int(first, LLMOPT_HISTORY_SLOTS, "LLMOPT_HISTORY_SLOTS: all rings'");

    is_int(llmopt_history_rings[LLMOPT_HISTORY_DAY].period_ms
           * (llmopt_history_rings[LLMOPT_HISTORY_DAY].slots - 1), 24 * HOUR,
           "the day ring's readable snapshots span 24 h");
    is_int(llmopt_history_rings[LLMOPT_HISTORY_MINUTE].period_ms
           * (llmopt_history_rings[LLMOPT_HISTORY_MINUTE].slots - 1),
           4 * HOUR, "the minute ring's span 4 h");
}


static void
test_due(void)
{
    uint64_t  i;

    is_int(llmopt_history_due(LLMOPT_HISTORY_DAY, 0, 0, 5), 1,
           "due: the first snapshot at once");
    is_int(llmopt_history_due(LLMOPT_HISTORY_DAY, 3, 600000, 1199999), 0,
           "due: not within the same 10 minutes");
    is_int(llmopt_history_due(LLMOPT_HISTORY_DAY, 3, 1199999, 1200000), 1,
           "due: at the next 10 minutes");
    is_int(llmopt_history_due(LLMOPT_HISTORY_DAY, 3, 1200000, 600000), 0,
           "due: not when the clock went back");
    is_int(llmopt_history_due(LLMOPT_HISTORY_MINUTE, 3, 60000, 120000), 1,
           "due: the minute ring at the next minute");

    is_int(llmopt_history_back(LLMOPT_HISTORY_DAY, 200, 0, &i), LLMOPT_OK,
           "back 0: the newest");
    is_int(i, 199, "... snapshot 199 of 200");
    is_int(llmopt_history_back(LLMOPT_HISTORY_DAY, 200, 143, &i), LLMOPT_OK,
           "back 143: the oldest kept");
    is_int(i, 56, "... snapshot 56");
    is_int(llmopt_history_back(LLMOPT_HISTORY_DAY, 200, 144, &i),
           LLMOPT_DECLINED, "back 144: the slot the next one overwrites");
    is_int(llmopt_history_back(LLMOPT_HISTORY_DAY, 2, 2, &i), LLMOPT_DECLINED,
           "back 2 of 2: none");
}


/* the trainer's tick: each ring takes a snapshot when one is due */

static void
tick(uint64_t now)
{
    snap_t    *s;
    uint64_t   n, last;
    unsigned   r;

    for (r = 0; r < LLMOPT_HISTORY_RINGS; r++) {
        n = taken[r];
        last = n ? slots[llmopt_history_slot(r, n - 1)].time_ms : 0;

        if (!llmopt_history_due(r, n, last, now)) {
            continue;
        }

        s = &slots[llmopt_history_slot(r, n)];
        s->time_ms = now;
        s->count = n_events;
        taken[r] = n + 1;
    }
}


/* the events after from up to to, from the log */

static uint64_t
events_in(uint64_t from, uint64_t to)
{
    uint64_t  i, n;

    n = 0;

    for (i = 0; i < n_events; i++) {
        n += events[i] > from && events[i] <= to;
    }

    return n;
}


/*
 * A ring read as the series reads it: oldest first, each point the
 * difference of two snapshots and the last one to now.
 */

static void
check_ring(unsigned ring, uint64_t now, uint64_t span_ms, const char *name)
{
    snap_t     snap[256];
    uint64_t   i, period, total, counted;
    unsigned   n, back, k, aligned, exact;

    period = llmopt_history_rings[ring].period_ms;
    n = 0;

    for (back = llmopt_history_rings[ring].slots; back-- > 0; /* void */) {
        if (llmopt_history_back(ring, taken[ring], back, &i) == LLMOPT_OK) {
            snap[n++] = slots[llmopt_history_slot(ring, i)];
        }
    }

    is_int(n, llmopt_history_rings[ring].slots - 1,
           "%s: %u snapshots readable", name, n);

    /* one a period, taken within a tick of its boundary */

    aligned = 1;

    for (k = 0; k < n; k++) {
        if (snap[k].time_ms % period >= STEP_MAX
            || (k && snap[k].time_ms / period != snap[k - 1].time_ms / period
                                                 + 1))
        {
            aligned = 0;
        }
    }

    ok(aligned, "%s: a snapshot at each %llu s", name,
       (unsigned long long) period / 1000);

    ok(now - snap[0].time_ms + STEP_MAX >= span_ms - period
       && now - snap[0].time_ms < span_ms,
       "%s: its points cover %.2f h (%.2f h at most)", name,
       (now - snap[0].time_ms) / 3600000.0, span_ms / 3600000.0);

    /* every point counts its own events, no more, no fewer */

    exact = 1;
    total = 0;

    for (k = 0; k < n; k++) {
        i = (k + 1 < n ? snap[k + 1].count : n_events) - snap[k].count;
        counted = events_in(snap[k].time_ms,
                            k + 1 < n ? snap[k + 1].time_ms : now);

        if (i != counted) {
            exact = 0;
            printf("# %s point %u: %llu, the log %llu\n", name, k,
                   (unsigned long long) i, (unsigned long long) counted);
        }

        total += i;
    }

    ok(exact, "%s: each point's events are those of its time", name);
    is_int(total, events_in(snap[0].time_ms, now),
           "%s: its points add up to the events since its oldest", name);
    ok(total > 0 && total < n_events, "%s: %llu of %llu events", name,
       (unsigned long long) total, (unsigned long long) n_events);
}
