/*
 * Copyright (C) llmopt authors
 *
 * replay's parts: the RouterBench replay (replay.c) and the decisions of
 * a catalog's policy over a stream of requests (replay_catalog.c).
 */

#ifndef _REPLAY_H_INCLUDED_
#define _REPLAY_H_INCLUDED_


/*
 * build/replay --catalog FILE --policy NAME --requests FILE: each line of
 * the requests file an OpenAI chat body; each is decided by
 * llmopt_decide() with the policy as nginx loads it (its algorithm,
 * features, guardrails, seed, fallback), from a cold start and with no
 * learning, and printed as "<n> <arm> <propensity>".  With outcomes (a
 * file of "<arm> <status> <latency ms>" lines, NULL: every arm answers
 * 200 at once) each served arm's answer is told to its circuit breaker
 * and its latency SLO as nginx tells them, one request after another.
 * Returns the exit status.
 */
int replay_catalog(const char *catalog, const char *policy,
    const char *requests, const char *outcomes);


#endif /* _REPLAY_H_INCLUDED_ */
