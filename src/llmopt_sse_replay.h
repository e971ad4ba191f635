/*
 * Copyright (C) llmopt authors
 *
 * A JSON answer replayed as the event stream of its own dialect
 * (llmopt_sse_replay.c): for a client that asked for a stream and is
 * answered from one whole answer (a cache entry, a cascade's choice).
 */

#ifndef _LLMOPT_SSE_REPLAY_H_INCLUDED_
#define _LLMOPT_SSE_REPLAY_H_INCLUDED_


#include "llmopt_core.h"
#include "llmopt_json.h"
#include "llmopt_request.h"
#include "llmopt_translate.h"


/*
 * Writes the answer buf (tokenized by llmopt_json_parse() into toks) of
 * dialect dl as that dialect's event stream, appending to out (the
 * translators' writer: out->len > out->cap means it needs that room).
 *
 * OpenAI: "data:" chunks (chat.completion.chunk, the answer's id,
 * created, model, system_fingerprint): per choice the role, a reasoning
 * model's reasoning_content, its content (one delta), its refusal, each tool call whole (index, id, type,
 * function name and arguments), then its finish_reason; with
 * include_usage every chunk has "usage":null and a last chunk with no
 * choices has the answer's usage; then "data: [DONE]".
 * Anthropic: message_start (the message with no content, stop_reason and
 * stop_sequence null, its usage with output_tokens 0), per content block
 * content_block_start, one delta (text_delta, input_json_delta with the
 * tool's input as JSON text, thinking_delta and signature_delta; none
 * for other blocks, which start whole) and content_block_stop, then
 * message_delta (stop_reason, stop_sequence, usage.output_tokens) and
 * message_stop, each with its "event:" line.
 *
 * LLMOPT_OK; LLMOPT_AGAIN when out was too small; LLMOPT_DECLINED when
 * buf is no answer of the dialect (an error object, no choices or
 * content): the caller sends it as it is.  Never allocates.
 */
int llmopt_sse_replay(llmopt_dialect_e dl, const unsigned char *buf,
    const llmopt_json_tok_t *toks, unsigned ntoks, unsigned include_usage,
    llmopt_xlate_out_t *out);


#endif /* _LLMOPT_SSE_REPLAY_H_INCLUDED_ */
