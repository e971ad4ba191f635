/*
 * Copyright (C) llmopt authors
 *
 * Translation between the OpenAI chat-completions and the Anthropic
 * messages dialects: request bodies (llmopt_translate_request.c), JSON
 * answers and error bodies (llmopt_translate_response.c), event streams
 * as incremental state machines (llmopt_translate_stream.c), and the
 * output writer they share (llmopt_translate_write.c); and a client of
 * the OpenAI Responses API to either (llmopt_translate_responses*.c).
 * docs/TRANSLATION.md has the mapping tables.  Pure C: nothing here knows
 * nginx.
 */

#ifndef _LLMOPT_TRANSLATE_H_INCLUDED_
#define _LLMOPT_TRANSLATE_H_INCLUDED_


#include "llmopt_core.h"
#include "llmopt_json.h"
#include "llmopt_request.h"


#define LLMOPT_XLATE_MAX_DROPPED   16     /* fields listed, more counted */
#define LLMOPT_XLATE_PATH_MAX      64     /* "messages[3].content[0].x" */
#define LLMOPT_XLATE_NAME_MAX      128    /* a forced tool's name, raw */
#define LLMOPT_XLATE_ID_MAX        256    /* a stream's id or model, raw */
#define LLMOPT_XLATE_STREAM_TOKS   512    /* JSON tokens of one event */
#define LLMOPT_XLATE_EVENT_NAME    32     /* bytes of an "event:" value */
#define LLMOPT_XLATE_LINE_DEFAULT  65536  /* a stream's data buffer */
#define LLMOPT_XLATE_LINE_MIN      1024
#define LLMOPT_XLATE_KEEP_DEFAULT  262144 /* a Responses stream's output */

/* the output room one event may need: see llmopt_xlate_stream_feed() */
#define LLMOPT_XLATE_OUT_MIN(line_cap)  (4 * (line_cap) + 4096)
/* the same for a Responses client with a kept output of keep_cap bytes */
#define LLMOPT_XLATE_OUT_KEEP(line_cap, keep_cap)                            \
    (LLMOPT_XLATE_OUT_MIN(line_cap) + 4 * (keep_cap))

/*
 * Thinking budgets of the reasoning_effort values ("minimal" is "low");
 * back, a budget below MEDIUM is "low", below HIGH "medium", else "high".
 */
#define LLMOPT_XLATE_BUDGET_LOW     1024
#define LLMOPT_XLATE_BUDGET_MEDIUM  4096
#define LLMOPT_XLATE_BUDGET_HIGH    16384


/*
 * An output buffer the caller owns.  Writers append at data + len while it
 * fits in cap, and add to len in any case: after a call, len > cap means
 * the output did not fit and len is the room it needs (the functions then
 * return LLMOPT_AGAIN).
 */

typedef struct {
    unsigned char  *data;
    size_t          len;
    size_t          cap;
} llmopt_xlate_out_t;


/*
 * Token counts in one shape for both dialects: prompt counts every input
 * token, cached ones included (OpenAI's prompt_tokens; Anthropic's
 * input_tokens + cache_read_input_tokens + cache_creation_input_tokens).
 */

typedef struct {
    int64_t   prompt;
    int64_t   output;
    int64_t   cache_read;
    int64_t   cache_write;
    int64_t   reasoning;                /* of output: OpenAI's
                                           completion_tokens_details */
    unsigned  has_cache:1;
} llmopt_xlate_usage_t;


/*
 * One request's translation: the caller sets the first five fields, the
 * request translation fills the rest, and the response translations read
 * them.  Plain data, no pointers: it may be copied.
 */

typedef struct {
    llmopt_dialect_e  client;           /* the dialect of the location */
    llmopt_dialect_e  upstream;         /* the model's "api"; never
                                           LLMOPT_DIALECT_RESPONSES */
    int64_t           max_tokens;       /* Anthropic's required max_tokens
                                           when the client gives none; 0:
                                           none, the request is refused */
    int64_t           created;          /* Unix seconds, OpenAI "created" */
    unsigned          drop_unsupported:1;

    unsigned          stream:1;         /* the request streams */
    unsigned          include_usage:1;  /* the OpenAI client asked for the
                                           usage chunk */
    unsigned          json_tool:1;      /* response_format became a tool */
    size_t            json_tool_len;
    char              json_tool_name[LLMOPT_XLATE_NAME_MAX];

    unsigned          n_dropped;        /* may exceed MAX_DROPPED */
    char              dropped[LLMOPT_XLATE_MAX_DROPPED]
                             [LLMOPT_XLATE_PATH_MAX];
} llmopt_xlate_t;


/*
 * Translates the request body buf[0 .. len - 1], tokenized by
 * llmopt_json_parse() into toks[0 .. ntoks - 1], from x->client's dialect
 * into x->upstream's, appending it to out.  The same dialect on both sides
 * is an error (the caller routes those untranslated).
 *
 * A field without a counterpart is refused: LLMOPT_ERROR, err->status 400,
 * err->type "invalid_request_error" and err->msg naming the field by its
 * path ("messages[2].name"); with x->drop_unsupported it is left out and
 * its path listed in x->dropped instead.  LLMOPT_AGAIN: out was too small,
 * out->len is the room needed (call again with the same x and a new out).
 * LLMOPT_OK: out->data[0 .. out->len - 1] is the upstream's body.
 * Never allocates.
 */
int llmopt_translate_request(llmopt_xlate_t *x, const unsigned char *buf,
    size_t len, const llmopt_json_tok_t *toks, unsigned ntoks,
    llmopt_xlate_out_t *out, llmopt_err_t *err);

/*
 * Translates a non-streamed 2xx answer of the upstream (buf, tokenized
 * into toks) into the client's dialect, appended to out.  LLMOPT_OK,
 * LLMOPT_AGAIN (out too small, as above) or LLMOPT_ERROR (err->status 502:
 * the answer is not a chat answer of the upstream's dialect).
 */
int llmopt_translate_response(const llmopt_xlate_t *x,
    const unsigned char *buf, size_t len, const llmopt_json_tok_t *toks,
    unsigned ntoks, llmopt_xlate_out_t *out, llmopt_err_t *err);

/*
 * Translates an upstream error answer (status, body buf; toks may be NULL
 * or ntoks 0 when the body is not JSON) into the client's dialect: the
 * message is kept, the type follows the status, and *client_status is the
 * status to send (Anthropic's 529 becomes 503 for OpenAI clients).
 * LLMOPT_OK or LLMOPT_AGAIN.
 */
int llmopt_translate_error(const llmopt_xlate_t *x, int status,
    const unsigned char *buf, size_t len, const llmopt_json_tok_t *toks,
    unsigned ntoks, llmopt_xlate_out_t *out, int *client_status);

/*
 * An error body of dialect d for status with the message msg[0 .. len - 1]
 * (raw bytes, quoted here): what the caller sends for a refused request.
 * LLMOPT_OK or LLMOPT_AGAIN.
 */
int llmopt_translate_error_body(llmopt_dialect_e d, int status,
    const char *msg, size_t len, llmopt_xlate_out_t *out);


/* the kind of content block a stream is in */
typedef enum {
    LLMOPT_XLATE_BLOCK_NONE = 0,
    LLMOPT_XLATE_BLOCK_TEXT,
    LLMOPT_XLATE_BLOCK_THINKING,
    LLMOPT_XLATE_BLOCK_TOOL,
    LLMOPT_XLATE_BLOCK_JSON,            /* the forced tool of JSON output */
    LLMOPT_XLATE_BLOCK_SKIP             /* no counterpart: deltas ignored */
} llmopt_xlate_block_e;


/*
 * What a stream translation knows between events.  Fixed size; saved and
 * restored whole around an event whose output did not fit.
 */

typedef struct {
    unsigned          started:1;        /* first event translated */
    unsigned          stopped:1;        /* the upstream's end was seen */
    unsigned          failed:1;         /* an error event was sent */
    unsigned          finished:1;       /* a finish reason was seen */
    unsigned          json_seen:1;      /* the JSON tool answered */
    llmopt_xlate_block_e  block;        /* the open block */
    unsigned          n_blocks;         /* Anthropic blocks opened */
    int               tool;             /* OpenAI tool_calls index, -1 */
    int               finish;           /* llmopt_xlate_stop_e */
    llmopt_xlate_usage_t  usage;
    size_t            id_len;
    size_t            model_len;
    char              id[LLMOPT_XLATE_ID_MAX];
    char              model[LLMOPT_XLATE_ID_MAX];

    /* a Responses client's stream (llmopt_translate_responses_stream.c) */
    unsigned          seq;              /* the next sequence_number */
    unsigned          n_items;          /* output items opened */
    unsigned          keep_lost:1;      /* the output outgrew the keep */
    size_t            keep_len;         /* the output items kept */
    size_t            item_at;          /* where the open item starts */
    size_t            text_at;          /* where its text starts */
    size_t            call_len;         /* the open function call's */
    size_t            name_len;
    char              call[LLMOPT_XLATE_ID_MAX];
    char              name[LLMOPT_XLATE_ID_MAX];
} llmopt_xlate_sstate_t;


/*
 * A stream translation: the SSE parser, the translation state and the
 * tokens of the event at hand.  sizeof is about 13 KB on 64-bit; with the
 * data buffer the caller lends (LLMOPT_XLATE_LINE_DEFAULT, 64 KiB) that is
 * all the memory a stream ever uses.
 */

typedef struct {
    llmopt_xlate_t    x;

    /* the SSE parser */
    unsigned          line_state;
    unsigned          field;
    unsigned          field_len;
    char              field_name[8];
    unsigned          cr:1;             /* the last byte was a CR */
    unsigned          has_data:1;       /* the event has a data line */
    unsigned          overflow:1;       /* the event outgrew the buffer */
    unsigned          pending:1;        /* an event waits for out room */
    unsigned          event_len;
    char              event[LLMOPT_XLATE_EVENT_NAME];
    unsigned char    *data;
    size_t            data_len;
    size_t            data_cap;

    unsigned char    *keep;             /* a Responses client's output */
    size_t            keep_cap;

    llmopt_xlate_sstate_t  s;

    llmopt_json_tok_t toks[LLMOPT_XLATE_STREAM_TOKS];
} llmopt_xlate_stream_t;


/*
 * Starts a stream translation for x (copied) with the data buffer
 * line[0 .. line_cap - 1] (at least LLMOPT_XLATE_LINE_MIN bytes), which
 * must live as long as st.  An event whose data is larger, or which has
 * more than LLMOPT_XLATE_STREAM_TOKS JSON tokens, ends the stream with an
 * error event.
 */
void llmopt_xlate_stream_init(llmopt_xlate_stream_t *st,
    const llmopt_xlate_t *x, unsigned char *line, size_t line_cap);

/*
 * For a Responses client: lends keep[0 .. cap - 1], which must live as
 * long as st, to keep the output items as they stream, so that the .done
 * events and response.completed repeat their text and arguments as the
 * API does.  Output beyond cap, or no keep at all, leaves them empty
 * (the deltas still carry everything).  The output room one event needs
 * is then LLMOPT_XLATE_OUT_KEEP(line_cap, cap).
 */
void llmopt_xlate_stream_keep(llmopt_xlate_stream_t *st, unsigned char *keep,
    size_t cap);

/*
 * Feeds in[0 .. n - 1], the upstream's next bytes, split anywhere, and
 * appends the client's SSE bytes to out.  Returns LLMOPT_OK with *used = n;
 * or LLMOPT_AGAIN when an event's output did not fit: *used bytes were
 * taken, out->len is as before that event, and the caller sends out's
 * bytes and calls again with in + *used (room of
 * LLMOPT_XLATE_OUT_MIN(line_cap) always suffices for one event).  A bad
 * upstream stream (truncated or unknown events, invalid JSON) gives the
 * client one error event of its dialect; every later byte is ignored.
 * Never allocates.
 */
int llmopt_xlate_stream_feed(llmopt_xlate_stream_t *st,
    const unsigned char *in, size_t n, llmopt_xlate_out_t *out,
    size_t *used);

/*
 * The upstream's stream ended: appends what the client still needs (an
 * error event when the upstream stopped early).  LLMOPT_OK or
 * LLMOPT_AGAIN (out too small; call again with more room).
 */
int llmopt_xlate_stream_finish(llmopt_xlate_stream_t *st,
    llmopt_xlate_out_t *out);


#endif /* _LLMOPT_TRANSLATE_H_INCLUDED_ */
