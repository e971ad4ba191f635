/*
 * Copyright (C) llmopt authors
 *
 * The usage reader's types (llmopt_usage.h): what a feed tells the caller
 * to do with its bytes, the finish reasons, and the reader's fixed-size
 * state, which the caller owns.  Types alone, no code: both the reader
 * (llmopt_usage.c) and its JSON scanner (llmopt_usage_json.c) use them,
 * so that the scanner does not depend on the reader that calls it.
 */

#ifndef _LLMOPT_USAGE_TYPES_H_INCLUDED_
#define _LLMOPT_USAGE_TYPES_H_INCLUDED_


#include "llmopt_core.h"
#include "llmopt_request.h"


/*
 * Bytes of one event the caller may have to hold back while it might be
 * the usage chunk; a longer event is passed on (the OpenAI usage chunk is
 * about 400 bytes).
 */
#define LLMOPT_USAGE_HOLD_MAX   65536

#define LLMOPT_USAGE_FRAMES     6      /* nesting levels whose keys matter */
#define LLMOPT_USAGE_CAPTURE    32     /* longest key or reason compared */


typedef enum {
    LLMOPT_FINISH_NONE = 0,         /* not seen (yet) */
    LLMOPT_FINISH_STOP,             /* stop, end_turn, stop_sequence */
    LLMOPT_FINISH_LENGTH,           /* length, max_tokens, ... */
    LLMOPT_FINISH_TOOL,             /* tool_calls, function_call, tool_use */
    LLMOPT_FINISH_OTHER             /* content_filter, refusal, ... */
} llmopt_finish_e;


/*
 * What the caller does with its bytes after a feed or finish call.  The
 * "pending" bytes are the bytes held back so far (the previous call's
 * hold, in stream order) followed by the first "consumed" bytes of the
 * chunk just fed.  They split, in this order, into "pass" bytes to forward
 * now, "drop" bytes to discard and "hold" bytes to keep for the next call:
 * pass + drop + hold == previous hold + consumed.  Bytes held back before
 * the call always fall wholly into the first non-empty one of the three.
 * hold never exceeds LLMOPT_USAGE_HOLD_MAX.
 */

typedef struct {
    size_t             consumed;
    size_t             pass;
    size_t             drop;
    size_t             hold;
} llmopt_usage_out_t;


/* Scanner state; private to llmopt_usage.c. */

typedef struct {
    uint8_t            role;
    uint8_t            key;
    uint8_t            count;
} llmopt_usage_frame_t;


typedef struct {
    /* the JSON document: the body, or the data of one event */
    uint8_t            state;
    uint8_t            meaning;        /* of the string or number */
    uint8_t            capture_len;
    uint8_t            literal;
    uint8_t            literal_pos;
    unsigned           capturing:1;
    unsigned           capture_bad:1;
    unsigned           is_key:1;
    unsigned           started:1;
    unsigned           number_bad:1;
    unsigned           usage_object:1;
    unsigned           choices_empty:1;
    unsigned           not_usage_chunk:1;
    unsigned           done_marker:1;
    unsigned           error_counted:1;
    unsigned           scan_part:1;    /* this string counted as a part */
    unsigned           number_digits;
    unsigned           depth;
    uint64_t           kinds[LLMOPT_JSON_MAX_DEPTH / 64];  /* bit d - 1
                                          set: level d is an object */
    int64_t            number;
    llmopt_usage_frame_t  frames[LLMOPT_USAGE_FRAMES + 1];
    unsigned char      capture[LLMOPT_USAGE_CAPTURE];

    /* values staged until the document turns out well formed */
    unsigned           staged;         /* bit per field */
    int64_t            fields[4];
    uint8_t            finish;
    uint8_t            choice_finish;
    int64_t            choice_index;   /* -1 when absent */
    unsigned           stream_end:1;   /* Anthropic message_stop */
    unsigned           error:1;

    /* server-sent events framing */
    uint8_t            line;
    uint8_t            name_len;
    unsigned char      name[6];
    unsigned           event:1;        /* an event is in progress */
    unsigned           candidate:1;    /* ...and might be the usage chunk */
    unsigned           first_line:1;
    unsigned           data_lines;
    uint64_t           event_start;

    uint64_t           offset;         /* stream bytes consumed */
    size_t             held;
    int64_t            raw_input;
    int64_t            cache_write;
} llmopt_usage_scan_t;


typedef struct {
    /*
     * Results, valid at any time, final after llmopt_usage_finish().
     * input_tokens is every prompt token, cached ones included (OpenAI
     * prompt_tokens; Anthropic input_tokens + cache_creation_input_tokens
     * + cache_read_input_tokens); cached_tokens the part read from a
     * cache (prompt_tokens_details.cached_tokens, cache_read_input_tokens);
     * cache_write_tokens the part written to it (Anthropic
     * cache_creation_input_tokens, else 0).  All 0 until seen_usage.
     */
    int64_t            input_tokens;
    int64_t            output_tokens;
    int64_t            cached_tokens;
    int64_t            cache_write_tokens;
    llmopt_finish_e    finish;

    /*
     * Byte offset in the stream of the first content delta of an event
     * stream (the first byte of a non-empty text, refusal, reasoning or
     * tool-call delta), -1 until seen; never set for a JSON body.
     */
    int64_t            first_content_offset;

    /*
     * Of an event stream: bytes of content in the deltas seen so far
     * (text, refusal, reasoning, thinking, partial JSON; an escape counts
     * 2), and the deltas that had any, a tool call counting one.  For
     * llmopt_usage_estimate().
     */
    uint64_t           content_bytes;
    uint64_t           content_parts;

    unsigned           errors;         /* malformed documents or events */
    unsigned           dropped;        /* usage chunks removed */

    unsigned           seen_usage:1;
    unsigned           complete:1;     /* JSON root closed, [DONE] or
                                          message_stop seen */
    unsigned           upstream_error:1;  /* an "error" object or event */

    llmopt_dialect_e   dialect;
    unsigned           sse:1;
    unsigned           strip:1;
    unsigned           finished:1;

    llmopt_usage_scan_t  scan;
} llmopt_usage_t;


#endif /* _LLMOPT_USAGE_TYPES_H_INCLUDED_ */
