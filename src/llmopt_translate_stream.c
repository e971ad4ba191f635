/*
 * Copyright (C) llmopt authors
 *
 * Event streams from the upstream's dialect into the client's, as an
 * incremental state machine: the SSE parser that takes bytes split
 * anywhere into a bounded data buffer, hands each complete event to the
 * translators of llmopt_translate_events.c and puts their state back when
 * the output does not fit; the error event that ends a bad stream.
 */


#include <string.h>

#include "llmopt_translate_write.h"


enum {
    LLMOPT_XLATE_SSE_FIELD = 0,         /* reading a line's field name */
    LLMOPT_XLATE_SSE_SPACE,             /* after ':', one space to skip */
    LLMOPT_XLATE_SSE_VALUE,
    LLMOPT_XLATE_SSE_IGNORE             /* a comment or unknown field */
};

enum {
    LLMOPT_XLATE_FIELD_OTHER = 0,
    LLMOPT_XLATE_FIELD_DATA,
    LLMOPT_XLATE_FIELD_EVENT
};


static void llmopt_xlate_sse_field(llmopt_xlate_stream_t *st);
static void llmopt_xlate_sse_value(llmopt_xlate_stream_t *st,
    const unsigned char *p, size_t n);
static int llmopt_xlate_dispatch(llmopt_xlate_stream_t *st,
    llmopt_xlate_out_t *out);


void
llmopt_xlate_stream_init(llmopt_xlate_stream_t *st, const llmopt_xlate_t *x,
    unsigned char *line, size_t line_cap)
{
    memset(st, 0, sizeof(*st) - sizeof(st->toks));

    st->x = *x;
    st->data = line;
    st->data_cap = line_cap;
    st->s.tool = -1;
}


int
llmopt_xlate_stream_feed(llmopt_xlate_stream_t *st, const unsigned char *in,
    size_t n, llmopt_xlate_out_t *out, size_t *used)
{
    int                   rc;
    size_t                pos, run;
    unsigned char         c;
    const unsigned char  *p;

    pos = 0;

    while (pos < n || st->pending) {
        if (st->s.failed) {
            break;
        }

        if (st->pending) {
            rc = llmopt_xlate_dispatch(st, out);
            if (rc != LLMOPT_OK) {
                *used = pos;
                return rc;
            }

            continue;
        }

        c = in[pos];

        if (c == '\n' && st->cr) {
            st->cr = 0;
            pos++;
            continue;
        }

        st->cr = 0;

        if (c == '\r' || c == '\n') {
            st->cr = (c == '\r');
            pos++;

            if (st->line_state == LLMOPT_XLATE_SSE_FIELD) {
                if (st->field_len == 0) {
                    /* a blank line: the event is complete */
                    if (st->has_data) {
                        st->pending = 1;

                    } else {
                        st->event_len = 0;
                    }

                    continue;
                }

                /* a field name alone: its value is empty */
                llmopt_xlate_sse_field(st);
            }

            st->line_state = LLMOPT_XLATE_SSE_FIELD;
            st->field_len = 0;
            continue;
        }

        switch (st->line_state) {

        case LLMOPT_XLATE_SSE_FIELD:
            pos++;

            if (c != ':') {
                if (st->field_len < sizeof(st->field_name)) {
                    st->field_name[st->field_len] = (char) c;
                }

                st->field_len++;
                break;
            }

            if (st->field_len == 0) {
                st->line_state = LLMOPT_XLATE_SSE_IGNORE;
                st->field_len = 1;
                break;
            }

            llmopt_xlate_sse_field(st);
            st->line_state = (st->field == LLMOPT_XLATE_FIELD_OTHER)
                             ? LLMOPT_XLATE_SSE_IGNORE
                             : LLMOPT_XLATE_SSE_SPACE;
            break;

        case LLMOPT_XLATE_SSE_SPACE:
            st->line_state = LLMOPT_XLATE_SSE_VALUE;

            if (c == ' ') {
                pos++;
            }

            break;

        default:
            p = in + pos;

            for (run = 0; pos + run < n; run++) {
                if (p[run] == '\n' || p[run] == '\r') {
                    break;
                }
            }

            if (st->line_state == LLMOPT_XLATE_SSE_VALUE) {
                llmopt_xlate_sse_value(st, p, run);
            }

            pos += run;
            break;
        }
    }

    *used = n;

    return LLMOPT_OK;
}


/* the line's field is known: "data" starts (or continues) the data */

static void
llmopt_xlate_sse_field(llmopt_xlate_stream_t *st)
{
    st->field = LLMOPT_XLATE_FIELD_OTHER;

    if (st->field_len == 4 && memcmp(st->field_name, "data", 4) == 0) {
        st->field = LLMOPT_XLATE_FIELD_DATA;

        if (st->has_data) {
            llmopt_xlate_sse_value(st, (const unsigned char *) "\n", 1);
        }

        st->has_data = 1;

    } else if (st->field_len == 5 && memcmp(st->field_name, "event", 5) == 0)
    {
        st->field = LLMOPT_XLATE_FIELD_EVENT;
        st->event_len = 0;
    }
}


static void
llmopt_xlate_sse_value(llmopt_xlate_stream_t *st, const unsigned char *p,
    size_t n)
{
    if (st->field == LLMOPT_XLATE_FIELD_EVENT) {
        if (n > sizeof(st->event) - st->event_len) {
            n = sizeof(st->event) - st->event_len;
        }

        memcpy(st->event + st->event_len, p, n);
        st->event_len += (unsigned) n;
        return;
    }

    if (n > st->data_cap - st->data_len) {
        st->overflow = 1;
        return;
    }

    memcpy(st->data + st->data_len, p, n);
    st->data_len += n;
}


/*
 * Translates the complete event in st->data; the translation state is put
 * back as it was when its output does not fit.
 */

static int
llmopt_xlate_dispatch(llmopt_xlate_stream_t *st, llmopt_xlate_out_t *out)
{
    int                    rc;
    size_t                 at;
    unsigned               count;
    llmopt_err_t           err;
    llmopt_xlate_doc_t     d;
    llmopt_xlate_sstate_t  saved;

    saved = st->s;
    at = out->len;

    if (st->s.stopped) {
        /* after the upstream's end: nothing more is translated */

    } else if (st->overflow) {
        llmopt_xlate_fail_lit(st, out, "an upstream event exceeds the "
                              "translator's bound");

    } else if (st->x.upstream == LLMOPT_DIALECT_OPENAI && st->data_len == 6
               && memcmp(st->data, "[DONE]", 6) == 0)
    {
        if (st->s.started && st->x.client == LLMOPT_DIALECT_RESPONSES) {
            llmopt_xlate_rs_end(st, out);

        } else if (st->s.started) {
            llmopt_xlate_message_end(st, out);

        } else {
            llmopt_xlate_fail_lit(st, out, "the upstream's stream ended "
                                  "before any chunk");
        }

    } else {
        rc = llmopt_json_parse(st->data, st->data_len, st->toks,
                               LLMOPT_XLATE_STREAM_TOKS, 0, &count, &err);

        if (rc == LLMOPT_AGAIN) {
            llmopt_xlate_fail_lit(st, out, "an upstream event exceeds the "
                                  "translator's bound");

        } else if (rc != LLMOPT_OK) {
            llmopt_xlate_fail_lit(st, out, "the upstream sent an event that "
                                  "is not a JSON object");

        } else {
            d.buf = st->data;
            d.toks = st->toks;
            d.ntoks = count;

            if (st->x.client == LLMOPT_DIALECT_RESPONSES) {
                llmopt_xlate_rs_upstream(st, &d, out);

            } else if (st->x.upstream == LLMOPT_DIALECT_OPENAI) {
                llmopt_xlate_oa_upstream(st, &d, out);

            } else {
                llmopt_xlate_an_upstream(st, &d, out);
            }
        }
    }

    if (out->len > out->cap) {
        st->s = saved;
        out->len = at;
        return (at == 0) ? LLMOPT_ERROR : LLMOPT_AGAIN;
    }

    st->pending = 0;
    st->has_data = 0;
    st->overflow = 0;
    st->data_len = 0;
    st->event_len = 0;

    return LLMOPT_OK;
}


int
llmopt_xlate_stream_finish(llmopt_xlate_stream_t *st, llmopt_xlate_out_t *out)
{
    int                    rc, partial;
    size_t                 at;
    llmopt_xlate_sstate_t  saved;

    if (st->pending) {
        rc = llmopt_xlate_dispatch(st, out);
        if (rc != LLMOPT_OK) {
            return rc;
        }
    }

    if (st->s.failed || st->s.stopped) {
        return LLMOPT_OK;
    }

    saved = st->s;
    at = out->len;
    partial = st->has_data || st->field_len != 0
              || st->line_state != LLMOPT_XLATE_SSE_FIELD;

    if (!partial && st->x.upstream == LLMOPT_DIALECT_OPENAI && st->s.finished)
    {
        /* a finish reason, then the end without [DONE]: complete enough */
        if (st->x.client == LLMOPT_DIALECT_RESPONSES) {
            llmopt_xlate_rs_end(st, out);

        } else {
            llmopt_xlate_message_end(st, out);
        }

    } else if (partial) {
        llmopt_xlate_fail_lit(st, out, "the upstream's stream ended in the "
                              "middle of an event");

    } else {
        llmopt_xlate_fail_lit(st, out, "the upstream's stream ended before "
                              "the answer did");
    }

    if (out->len > out->cap) {
        st->s = saved;
        out->len = at;
        return LLMOPT_AGAIN;
    }

    return LLMOPT_OK;
}


/* an error event of the client's dialect; the stream ends there */

void
llmopt_xlate_fail(llmopt_xlate_stream_t *st, llmopt_xlate_out_t *out,
    const char *msg, size_t len, int msg_is_json)
{
    if (st->x.client == LLMOPT_DIALECT_RESPONSES) {
        llmopt_xlate_rs_fail(st, out, msg, len, msg_is_json);
        return;
    }

    if (st->x.client == LLMOPT_DIALECT_OPENAI) {
        llmopt_xlate_lit(out, "data: ");

    } else {
        llmopt_xlate_lit(out, "event: error\ndata: ");
    }

    llmopt_xlate_error_write(st->x.client, out, 502, msg, len, msg_is_json);
    llmopt_xlate_lit(out, "\n\n");

    st->s.failed = 1;
}


