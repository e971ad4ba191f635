/*
 * Copyright (C) llmopt authors
 *
 * The rings of a policy's history (llmopt_history.h): their periods and
 * sizes, which slot a snapshot goes to, when the next is due.
 */

#include "llmopt_core.h"
#include "llmopt_history.h"


const llmopt_history_ring_t  llmopt_history_rings[LLMOPT_HISTORY_RINGS] = {
    { 10000, 16, 0 },
    { 60000, 241, 16 },
    { 600000, 145, 16 + 241 }
};


unsigned
llmopt_history_slot(unsigned ring, uint64_t i)
{
    const llmopt_history_ring_t  *hr;

    hr = &llmopt_history_rings[ring];

    return hr->first + (unsigned) (i % hr->slots);
}


int
llmopt_history_due(unsigned ring, uint64_t n, uint64_t last_ms,
    uint64_t now_ms)
{
    uint64_t  period;

    if (n == 0) {
        return 1;
    }

    period = llmopt_history_rings[ring].period_ms;

    return now_ms / period > last_ms / period;
}


int
llmopt_history_back(unsigned ring, uint64_t n, unsigned back, uint64_t *i)
{
    if (back >= n || back + 1 >= llmopt_history_rings[ring].slots) {
        return LLMOPT_DECLINED;
    }

    *i = n - 1 - back;

    return LLMOPT_OK;
}
