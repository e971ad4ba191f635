/*
 * Copyright (C) llmopt authors
 *
 * Usage capture: a streaming scanner of upstream response bodies (OpenAI
 * chat completions, Anthropic messages; plain JSON or server-sent events)
 * that finds token usage, the finish reason and the first content delta,
 * fed in chunks of any size with fixed-size state, and that can tell the
 * caller which bytes form the OpenAI usage-only chunk of a stream so that
 * they can be removed.  docs/USAGE.md, "Usage capture", is the contract.
 */

#ifndef _LLMOPT_USAGE_H_INCLUDED_
#define _LLMOPT_USAGE_H_INCLUDED_


#include "llmopt_core.h"
#include "llmopt_usage_types.h"


/*
 * Prepares u to scan one response body.  sse: the body is a server-sent
 * event stream (Content-Type text/event-stream), else one JSON document.
 * strip_usage_chunk: remove the OpenAI usage-only chunk from the stream
 * (only meaningful with sse and LLMOPT_DIALECT_OPENAI; ignored otherwise).
 * u is fixed-size and owned by the caller; nothing is allocated, now or
 * later.
 */
void llmopt_usage_init(llmopt_usage_t *u, llmopt_dialect_e dialect, int sse,
    int strip_usage_chunk);

/*
 * Scans the next chunk p[0 .. len - 1] of the body (any size, 0 included;
 * chunks may split the body anywhere) and fills *out (docs/USAGE.md has
 * the contract with an example).  out->consumed is len unless the call
 * stopped right after a usage chunk to drop (out->drop > 0; consumed may
 * then be anything from 0 to len): the caller handles *out and calls
 * again with p + consumed, len - consumed.  p is not kept.  Without strip,
 * consumed == len, pass == len and nothing is ever held or dropped.
 * Malformed input is never an error of the call: it counts in u->errors
 * and yields no values.  Returns LLMOPT_OK.
 */
int llmopt_usage_feed(llmopt_usage_t *u, const unsigned char *p, size_t len,
    llmopt_usage_out_t *out);

/*
 * Ends the body: an event completed by its final blank line is handled
 * (it may be dropped), any other held bytes are released (pass), a
 * truncated document counts as an error.  out may be NULL when nothing is
 * stripped.  Later feed calls pass their bytes through unscanned.
 * Returns LLMOPT_OK when usage was seen, else LLMOPT_DECLINED.
 */
int llmopt_usage_finish(llmopt_usage_t *u, llmopt_usage_out_t *out);

/*
 * 1 when the token counts seen are what the provider bills: usage was
 * seen and no later event can change it (an Anthropic stream's output
 * count comes in its message_delta, after the answer's text).
 */
int llmopt_usage_final(const llmopt_usage_t *u);

/*
 * Bytes of streamed content a token, for estimates: English runs about 4,
 * code and other languages less; 3 leans to charging more, not less.
 */
#define LLMOPT_USAGE_BYTES_PER_TOKEN  3


typedef struct {
    uint64_t           input_tokens;
    uint64_t           output_tokens;
} llmopt_usage_estimate_t;


/*
 * Token counts for an answer whose usage never came, or came in part (the
 * client left and the rest of the stream could not be read, the upstream
 * broke off): what budgets and cost are charged instead, never less than
 * what was delivered.  input_estimate: the request's own estimate of its
 * prompt tokens.  u: the scanner of what came back, NULL when nothing did
 * (the output is then 0).  Input: a count the stream gave (Anthropic's
 * message_start), else input_estimate.  Output: of a stream, one token
 * per LLMOPT_USAGE_BYTES_PER_TOKEN bytes of content, at least one per
 * delta, at least what the stream said; of a JSON answer cut short, one
 * per LLMOPT_USAGE_BYTES_PER_TOKEN bytes of it.
 */
void llmopt_usage_estimate(const llmopt_usage_t *u, uint64_t input_estimate,
    llmopt_usage_estimate_t *est);

/* "stop", "length", "tool", "other" or "none", for logs and variables. */
const char *llmopt_finish_name(llmopt_finish_e finish);


#endif /* _LLMOPT_USAGE_H_INCLUDED_ */
