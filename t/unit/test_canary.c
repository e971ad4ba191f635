/*
 * Copyright (C) llmopt authors
 *
 * A canary rollout (llmopt_canary.h): its start, a reload that keeps it,
 * a new configuration that starts it anew, the share of every state, the
 * stage gate (quality, cost, latency, unchecked gates), advancing stage
 * by stage to the last, a rollback, answers that do not count, and the
 * state file's copy restored or refused.
 */

#include <stddef.h>
#include <string.h>

#include "tap.h"
#include "llmopt_core.h"
#include "llmopt_canary.h"


static void
conf_init(llmopt_canary_conf_t *c)
{
    memset(c, 0, sizeof(*c));
    c->arm = 1;
    c->n_stages = 3;
    c->stages[0] = 0.1;
    c->stages[1] = 0.5;
    c->stages[2] = 1.0;
    c->min_requests = 2;
    c->max_quality_drop = 0.1;
    c->max_cost_rise = 0.5;
    c->max_latency_rise = 1.0;
}


/* n answers of arm at time t: quality q, cost, latency */

static int
feed(llmopt_canary_t *cs, const llmopt_canary_conf_t *c, unsigned arm,
    unsigned n, double q, double cost, double lat, uint64_t t, uint64_t now)
{
    int       v;
    unsigned  i;

    v = LLMOPT_CANARY_WAIT;

    for (i = 0; i < n; i++) {
        v = llmopt_canary_learned(cs, c, arm, q, cost, lat, t, now);
    }

    return v;
}


int
main(void)
{
    int                   v;
    char                  why[LLMOPT_CANARY_WHY];
    llmopt_canary_t       cs, saved, before, copy;
    llmopt_canary_conf_t  c, other;
    llmopt_canary_side_t  a, b;

    conf_init(&c);

    /* the state file keeps a rollout byte for byte: its layout stays */

    is_int(sizeof(llmopt_canary_t), 5 * 8 + 2 * 5 * 8 + LLMOPT_CANARY_WHY,
           "a rollout is 312 bytes");
    is_int(offsetof(llmopt_canary_t, side), 40, "its sides after 5 words");

    /* no canary */

    memset(&cs, 0, sizeof(cs));
    other = c;
    other.arm = -1;
    cs.conf = 7;
    llmopt_canary_start(&cs, &other, NULL, 0, 100);
    is_int(cs.state, LLMOPT_CANARY_OFF, "no canary: off");
    is_int(cs.conf, 0, "and no configuration");
    ok(llmopt_canary_share(&cs, &other) < 0, "no share");
    is_int(llmopt_canary_learned(&cs, &other, 1, 1, 0, 0, 200, 200),
           LLMOPT_CANARY_WAIT, "an answer does nothing");
    is_int(cs.side[0].n + cs.side[1].n, 0, "nor counts");

    /* a start */

    memset(&cs, 0, sizeof(cs));
    llmopt_canary_start(&cs, &c, "new", 3, 1000);
    is_int(cs.state, LLMOPT_CANARY_RUNNING, "a canary of 3 stages runs");
    is_int(cs.stage, 0, "at stage 0");
    is_int(cs.since_ms, 1000, "since now");
    is_int(cs.conf, llmopt_canary_conf_hash(&c, "new", 3), "its hash kept");
    is_str(cs.why, "", "no gate yet");
    is_num(llmopt_canary_share(&cs, &c), 0.1, 1e-12, "share: stage 0's");
    ok(llmopt_canary_conf_hash(&c, "new", 3)
       != llmopt_canary_conf_hash(&c, "old", 3), "the name is in the hash");

    /* a reload of the same configuration goes on */

    cs.stage = 1;
    cs.side[0].n = 5;
    llmopt_canary_start(&cs, &c, "new", 3, 5000);
    is_int(cs.stage, 1, "a reload keeps the stage");
    is_int(cs.since_ms, 1000, "and its start");
    is_int(cs.side[0].n, 5, "and its counts");

    /* another configuration, another arm name: anew */

    other = c;
    other.min_requests = 3;
    llmopt_canary_start(&cs, &other, "new", 3, 6000);
    is_int(cs.stage, 0, "a new gate starts anew");
    is_int(cs.since_ms, 6000, "now");
    is_int(cs.side[0].n, 0, "counts cleared");

    cs.stage = 1;
    llmopt_canary_start(&cs, &other, "newer", 5, 7000);
    is_int(cs.stage, 0, "another arm starts anew");
    is_int(cs.since_ms, 7000, "now");

    /* an off rollout of the same hash starts too */

    cs.state = LLMOPT_CANARY_OFF;
    cs.stage = 1;
    llmopt_canary_start(&cs, &other, "newer", 5, 8000);
    is_int(cs.state, LLMOPT_CANARY_RUNNING, "off, then on: running");
    is_int(cs.stage, 0, "from stage 0");

    /* one stage: complete at once */

    other = c;
    other.n_stages = 1;
    other.stages[0] = 0.3;
    memset(&cs, 0, sizeof(cs));
    llmopt_canary_start(&cs, &other, "new", 3, 1000);
    is_int(cs.state, LLMOPT_CANARY_COMPLETE, "one stage: complete");
    is_num(llmopt_canary_share(&cs, &other), 0.3, 1e-12, "at its share");
    is_int(llmopt_canary_learned(&cs, &other, 1, 0, 0, 0, 2000, 2000),
           LLMOPT_CANARY_WAIT, "a complete rollout has no gate");
    is_int(cs.side[0].n, 0, "nor counts");

    /* the gate waits for both sides */

    memset(&cs, 0, sizeof(cs));
    llmopt_canary_start(&cs, &c, "new", 3, 1000);

    is_int(llmopt_canary_learned(&cs, &c, 1, 1, 0.01, 100, 999, 1500),
           LLMOPT_CANARY_WAIT, "an answer older than the stage");
    is_int(cs.side[0].n, 0, "is not counted");

    v = feed(&cs, &c, 1, 5, 0.9, 0.01, 100, 1000, 1500);
    is_int(v, LLMOPT_CANARY_WAIT, "the canary alone: wait");
    is_int(cs.side[0].n, 5, "counted on its side");
    v = feed(&cs, &c, 0, 1, 0.9, 0.01, 100, 1000, 1500);
    is_int(v, LLMOPT_CANARY_WAIT, "one control answer: wait");
    is_int(cs.side[1].n, 1, "counted on the other side");
    is_int(cs.changes, 0, "no change yet");

    /* passes: the next stage */

    v = feed(&cs, &c, 2, 1, 0.9, 0.01, 100, 1000, 2500);
    is_int(v, LLMOPT_CANARY_ADVANCE, "both sides have enough: advance");
    is_int(cs.state, LLMOPT_CANARY_RUNNING, "still running");
    is_int(cs.stage, 1, "stage 1");
    is_int(cs.since_ms, 2500, "since now");
    is_int(cs.changes, 1, "one change");
    is_int(cs.side[0].n + cs.side[1].n, 0, "the stage counts anew");
    ok(strncmp(cs.why, "quality 0.900 against 0.900", 27) == 0,
       "why says what was measured: %s", cs.why);
    is_num(llmopt_canary_share(&cs, &c), 0.5, 1e-12, "share: stage 1's");

    /* a wait keeps the last gate's words */

    memcpy(why, cs.why, sizeof(why));
    v = feed(&cs, &c, 1, 1, 0.9, 0.01, 100, 2000, 2600);
    is_int(v, LLMOPT_CANARY_WAIT, "an answer of the last stage's time");
    is_int(cs.side[0].n, 0, "is not counted in this one");
    v = feed(&cs, &c, 1, 1, 0.9, 0.01, 100, 2500, 2600);
    is_int(cs.side[0].n, 1, "one of this stage is");
    is_str(cs.why, why, "a wait leaves why alone");

    /* the last stage: complete */

    v = feed(&cs, &c, 1, 1, 0.9, 0.01, 100, 2600, 2700);
    v = feed(&cs, &c, 0, 2, 0.85, 0.01, 100, 2600, 2700);
    is_int(v, LLMOPT_CANARY_ADVANCE, "the last gate passed");
    is_int(cs.state, LLMOPT_CANARY_COMPLETE, "complete");
    is_int(cs.stage, 2, "at the last stage");
    is_int(cs.changes, 2, "two changes");
    is_num(llmopt_canary_share(&cs, &c), 1.0, 1e-12, "share: the last");
    v = feed(&cs, &c, 1, 5, 0, 1, 1000, 3000, 3000);
    is_int(v, LLMOPT_CANARY_WAIT, "complete: answers do nothing");
    is_int(cs.stage, 2, "the stage stays");
    is_int(cs.side[0].n, 0, "and nothing counts");

    /* a quality drop rolls back, at its stage */

    memset(&cs, 0, sizeof(cs));
    llmopt_canary_start(&cs, &c, "new", 3, 1000);
    feed(&cs, &c, 1, 2, 0.5, 0.01, 100, 1000, 1000);
    v = feed(&cs, &c, 0, 2, 0.7, 0.01, 100, 1000, 1000);
    is_int(v, LLMOPT_CANARY_ROLLBACK, "a drop of 0.2 rolls back");
    is_int(cs.state, LLMOPT_CANARY_ROLLED_BACK, "rolled back");
    is_int(cs.stage, 0, "at its stage");
    is_int(cs.changes, 1, "a change");
    ok(strncmp(cs.why, "quality 0.500 against 0.700", 27) == 0,
       "why: the quality: %s", cs.why);
    is_num(llmopt_canary_share(&cs, &c), 0, 1e-12, "share: none");
    v = feed(&cs, &c, 1, 5, 1, 0, 0, 2000, 2000);
    is_int(v, LLMOPT_CANARY_WAIT, "rolled back for good");
    is_int(cs.state, LLMOPT_CANARY_ROLLED_BACK, "it stays");

    /* the gate alone: cost, latency, unchecked gates, unknowns */

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    llmopt_canary_add(&a, 0.8, 0.03, 100);
    llmopt_canary_add(&a, 0.8, 0.03, -1);
    llmopt_canary_add(&b, 0.8, 0.01, 100);
    llmopt_canary_add(&b, 0.8, -1, 100);
    is_num(a.latency_n, 1, 1e-12, "an unknown latency is not counted");
    is_num(b.cost, 0.01, 1e-12, "an unknown cost counts as 0");

    v = llmopt_canary_verdict(&c, &a, &b, why, sizeof(why));
    is_int(v, LLMOPT_CANARY_ROLLBACK, "cost 0.03 against 0.005: rollback");
    ok(strncmp(why, "cost", 4) == 0, "why: the cost: %s", why);

    other = c;
    other.max_cost_rise = -1;
    v = llmopt_canary_verdict(&other, &a, &b, why, sizeof(why));
    is_int(v, LLMOPT_CANARY_ADVANCE, "an unchecked cost gate: advance");

    llmopt_canary_add(&a, 0.8, 0, 500);
    llmopt_canary_add(&b, 0.8, 0, 100);
    v = llmopt_canary_verdict(&other, &a, &b, why, sizeof(why));
    is_int(v, LLMOPT_CANARY_ROLLBACK, "latency 300 against 100: rollback");
    ok(strncmp(why, "latency", 7) == 0, "why: the latency: %s", why);

    other.max_latency_rise = -1;
    v = llmopt_canary_verdict(&other, &a, &b, why, sizeof(why));
    is_int(v, LLMOPT_CANARY_ADVANCE, "and unchecked: advance");

    other.max_quality_drop = -1;
    b.quality += 10;
    v = llmopt_canary_verdict(&other, &a, &b, why, sizeof(why));
    is_int(v, LLMOPT_CANARY_ADVANCE, "an unchecked quality gate: advance");

    is_str(llmopt_canary_state_name(LLMOPT_CANARY_RUNNING), "running",
           "state names: running");
    is_str(llmopt_canary_state_name(LLMOPT_CANARY_COMPLETE), "complete",
           "complete");
    is_str(llmopt_canary_state_name(LLMOPT_CANARY_ROLLED_BACK),
           "rolled_back", "rolled_back");
    is_str(llmopt_canary_state_name(LLMOPT_CANARY_OFF), "off", "off");

    /* the state file's copy */

    memset(&cs, 0, sizeof(cs));
    llmopt_canary_start(&cs, &c, "new", 3, 1000);
    saved = cs;
    saved.stage = 2;
    saved.state = LLMOPT_CANARY_COMPLETE;
    saved.since_ms = 500;
    saved.changes = 2;
    memset(saved.why, 'x', sizeof(saved.why));

    before = cs;
    copy = saved;
    copy.conf++;
    is_int(llmopt_canary_restore(&cs, &c, &copy), LLMOPT_DECLINED,
           "ancopy configuration's copy: refused");
    copy = saved;
    copy.stage = 3;
    is_int(llmopt_canary_restore(&cs, &c, &copy), LLMOPT_DECLINED,
           "a stage out of range: refused");
    copy = saved;
    copy.state = LLMOPT_CANARY_OFF;
    is_int(llmopt_canary_restore(&cs, &c, &copy), LLMOPT_DECLINED,
           "an off copy: refused");
    copy.state = LLMOPT_CANARY_ROLLED_BACK + 1;
    is_int(llmopt_canary_restore(&cs, &c, &copy), LLMOPT_DECLINED,
           "an unknown state: refused");
    ok(memcmp(&cs, &before, sizeof(cs)) == 0, "refusals change nothing");

    is_int(llmopt_canary_restore(&cs, &c, &saved), LLMOPT_OK,
           "its own configuration's copy: restored");
    is_int(cs.stage, 2, "its stage");
    is_int(cs.state, LLMOPT_CANARY_COMPLETE, "its state");
    is_int(cs.since_ms, 500, "its start");
    is_int(cs.changes, 2, "its changes");
    is_int(strlen(cs.why), sizeof(cs.why) - 1, "its why, terminated");

    other = c;
    other.arm = -1;
    is_int(llmopt_canary_restore(&cs, &other, &saved), LLMOPT_DECLINED,
           "no canary: nothing restored");

    /* a stage beyond the stages (never made here): the last one's share */

    cs.state = LLMOPT_CANARY_RUNNING;
    cs.stage = 9;
    is_num(llmopt_canary_share(&cs, &c), 1.0, 1e-12,
           "a stage out of range: the last share");

    return tap_done();
}
