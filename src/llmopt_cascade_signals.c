/*
 * Copyright (C) llmopt authors
 *
 * The signals of a cascade tier's answer (llmopt_cascade.h): markers,
 * the extractor and the agreement of two answers, the format a prompt
 * asks, and the signal vector the acceptance model reads.
 */

#include <math.h>
#include <string.h>

#include "llmopt_cascade.h"
#include "llmopt_features.h"
#include "llmopt_usage_types.h"


/* A normalised view of a text, read one byte at a time. */

typedef struct {
    const unsigned char  *p;
    const unsigned char  *end;
    const unsigned char  *start;
    unsigned              space;          /* white space seen since the last
                                             byte given */
    unsigned              emitted;        /* a byte was given */
    int                   held;           /* given after a space, -1 */
} llmopt_cascade_norm_t;


static int llmopt_cascade_lower(int c);
static int llmopt_cascade_alnum(int c);
static int llmopt_cascade_digit(int c);
static size_t llmopt_cascade_markers(const char *text, size_t len,
    const char *const *markers);
static int llmopt_cascade_at(const unsigned char *p, const unsigned char *end,
    const char *word);
static void llmopt_cascade_norm_init(llmopt_cascade_norm_t *n,
    const char *text, size_t len);
static int llmopt_cascade_norm_next(llmopt_cascade_norm_t *n);
static int llmopt_cascade_letter_at(const unsigned char *p,
    const unsigned char *end);
static int llmopt_cascade_choice(const unsigned char *p,
    const unsigned char *end);
static unsigned llmopt_cascade_options(const unsigned char *p,
    const unsigned char *end);


/*
 * Phrases, lower case, matched at a word's start.  A straight apostrophe
 * only: a typographic one does not match (docs/CASCADE.md).
 */

static const char *const  llmopt_cascade_refusal_markers[] = {
    "i can't", "i cannot", "i can not", "i'm sorry", "i am sorry",
    "i'm unable", "i am unable", "i won't", "i will not",
    "i'm not able", "i am not able", "as an ai", "i must decline",
    NULL
};

static const char *const  llmopt_cascade_hedge_markers[] = {
    "i think", "i believe", "i guess", "probably", "possibly", "perhaps",
    "maybe", "might be", "not sure", "not certain", "it depends",
    "unclear", "likely",
    NULL
};

static const char *const  llmopt_cascade_number_asks[] = {
    "how many", "how much", "calculate", "compute", "what number",
    "what is the value", NULL
};


static int
llmopt_cascade_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}


static int
llmopt_cascade_digit(int c)
{
    return c >= '0' && c <= '9';
}


static int
llmopt_cascade_alnum(int c)
{
    c = llmopt_cascade_lower(c);

    return (c >= 'a' && c <= 'z') || llmopt_cascade_digit(c) || c >= 0x80;
}


/* 1 when p starts with word (lower case), case-insensitive */

static int
llmopt_cascade_at(const unsigned char *p, const unsigned char *end,
    const char *word)
{
    size_t  i, n;

    n = strlen(word);

    if ((size_t) (end - p) < n) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (llmopt_cascade_lower(p[i]) != (unsigned char) word[i]) {
            return 0;
        }
    }

    return 1;
}


static size_t
llmopt_cascade_markers(const char *text, size_t len,
    const char *const *markers)
{
    size_t                i, found;
    const unsigned char  *p, *end;

    if (text == NULL) {
        return 0;
    }

    p = (const unsigned char *) text;
    end = p + (len < LLMOPT_CASCADE_SCAN_MAX ? len : LLMOPT_CASCADE_SCAN_MAX);
    found = 0;

    for ( /* void */ ; p < end; p++) {

        if (p > (const unsigned char *) text && llmopt_cascade_alnum(p[-1])) {
            continue;
        }

        for (i = 0; markers[i] != NULL; i++) {
            if (llmopt_cascade_at(p, end, markers[i])) {
                found++;
                break;
            }
        }
    }

    return found;
}


unsigned
llmopt_cascade_refusals(const char *text, size_t len)
{
    return llmopt_cascade_markers(text, len, llmopt_cascade_refusal_markers);
}


unsigned
llmopt_cascade_hedges(const char *text, size_t len)
{
    return llmopt_cascade_markers(text, len, llmopt_cascade_hedge_markers);
}


int
llmopt_cascade_extractor_init(llmopt_cascade_extractor_t *ex,
    const char *pattern, llmopt_err_t *err)
{
    int   rc;
    char  msg[128];

    memset(ex, 0, sizeof(llmopt_cascade_extractor_t));

    if (pattern == NULL || pattern[0] == '\0') {
        return LLMOPT_OK;
    }

    rc = regcomp(&ex->regex, pattern, REG_EXTENDED);

    if (rc != 0) {
        regerror(rc, &ex->regex, msg, sizeof(msg));
        llmopt_err_set(err, 0, 0, "invalid answer regex \"%s\": %s",
                       pattern, msg);
        return LLMOPT_ERROR;
    }

    ex->has_regex = 1;

    return LLMOPT_OK;
}


void
llmopt_cascade_extractor_free(llmopt_cascade_extractor_t *ex)
{
    if (ex->has_regex) {
        regfree(&ex->regex);
        ex->has_regex = 0;
    }
}


int
llmopt_cascade_extract(const llmopt_cascade_extractor_t *ex,
    const char *text, size_t len, llmopt_str_t *out)
{
    char        copy[LLMOPT_CASCADE_EXTRACT_MAX + 1];
    regmatch_t  m[2];

    if (text == NULL) {
        text = "";
        len = 0;
    }

    if (len > LLMOPT_CASCADE_EXTRACT_MAX) {
        len = LLMOPT_CASCADE_EXTRACT_MAX;
    }

    if (!ex->has_regex) {
        out->data = text;
        out->len = len;
        return LLMOPT_OK;
    }

    /*
     * regexec() wants a NUL-terminated string (REG_STARTEND would spare
     * the copy, but ASan's interceptor reads to a NUL all the same): a
     * copy on the stack, its offsets the text's.  A NUL in the text ends
     * what the regex sees.
     */

    memcpy(copy, text, len);
    copy[len] = '\0';

    if (regexec(&ex->regex, copy, 2, m, 0) != 0) {
        return LLMOPT_DECLINED;
    }

    if (ex->regex.re_nsub >= 1 && m[1].rm_so >= 0) {
        m[0] = m[1];
    }

    out->data = text + m[0].rm_so;
    out->len = (size_t) (m[0].rm_eo - m[0].rm_so);

    return LLMOPT_OK;
}


static void
llmopt_cascade_norm_init(llmopt_cascade_norm_t *n, const char *text,
    size_t len)
{
    n->start = (const unsigned char *) text;
    n->p = n->start;
    n->end = n->p + len;
    n->space = 0;
    n->emitted = 0;
    n->held = -1;
}


/*
 * The next byte of the normalised text, -1 at its end: ASCII letters
 * lower case, ASCII punctuation dropped but for a '.' between two digits
 * ("3.5" stays, "1,000" is "1000"), every run of white space one space,
 * none at either end; other bytes (UTF-8) as they are.
 */

static int
llmopt_cascade_norm_next(llmopt_cascade_norm_t *n)
{
    int                   c;
    const unsigned char  *at;

    if (n->held >= 0) {
        c = n->held;
        n->held = -1;
        return c;
    }

    while (n->p < n->end) {
        at = n->p++;
        c = *at;

        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
            || c == '\v')
        {
            n->space = 1;
            continue;
        }

        if (c < 0x80 && !llmopt_cascade_alnum(c)
            && !(c == '.' && at > n->start && llmopt_cascade_digit(at[-1])
                 && n->p < n->end && llmopt_cascade_digit(*n->p)))
        {
            continue;
        }

        c = llmopt_cascade_lower(c);

        if (n->space && n->emitted) {
            n->space = 0;
            n->held = c;
            return ' ';
        }

        n->space = 0;
        n->emitted = 1;

        return c;
    }

    return -1;
}


int
llmopt_cascade_agree(const llmopt_cascade_extractor_t *ex,
    const char *a, size_t alen, const char *b, size_t blen)
{
    int                    ca, cb;
    llmopt_str_t           sa, sb;
    llmopt_cascade_norm_t  na, nb;

    if (a == NULL || b == NULL
        || llmopt_cascade_extract(ex, a, alen, &sa) != LLMOPT_OK
        || llmopt_cascade_extract(ex, b, blen, &sb) != LLMOPT_OK)
    {
        return 0;
    }

    llmopt_cascade_norm_init(&na, sa.data, sa.len);
    llmopt_cascade_norm_init(&nb, sb.data, sb.len);

    do {
        ca = llmopt_cascade_norm_next(&na);
        cb = llmopt_cascade_norm_next(&nb);

        if (ca != cb) {
            return 0;
        }

    } while (ca != -1);

    /* two texts that normalise to nothing say nothing alike */

    return na.emitted;
}


/* A lettered option at p: "A)", "(A)", "A.", "A:", then a blank. */

static int
llmopt_cascade_letter_at(const unsigned char *p, const unsigned char *end)
{
    if (p < end && *p == '(') {
        p++;
    }

    if (end - p < 3 || p[0] < 'A' || p[0] > 'J') {
        return 0;
    }

    if (p[1] != ')' && p[1] != '.' && p[1] != ':') {
        return 0;
    }

    return (p[2] == ' ' || p[2] == '\t') ? p[0] : 0;
}


/*
 * A chosen letter at p: A-J or a-j at the end or before one of ")".:,*"
 * or a new line ("B)", "b."); an upper-case one but "I" before any other
 * non-letter but an apostrophe ("B because"); so not the article "a", the
 * pronoun "I", "I'm".
 */

static int
llmopt_cascade_choice(const unsigned char *p, const unsigned char *end)
{
    if (p >= end) {
        return 0;
    }

    if (p + 1 == end) {
        return (p[0] >= 'A' && p[0] <= 'J') || (p[0] >= 'a' && p[0] <= 'j');
    }

    if (p[1] == ')' || p[1] == '.' || p[1] == ':' || p[1] == ','
        || p[1] == '*' || p[1] == '\n')
    {
        return (p[0] >= 'A' && p[0] <= 'J') || (p[0] >= 'a' && p[0] <= 'j');
    }

    /* "B because": not the pronoun "I", not "I'm" */

    return p[0] >= 'A' && p[0] <= 'J' && p[0] != 'I'
           && !llmopt_cascade_alnum(p[1]) && p[1] != '\'';
}


/* The distinct lettered options that start a line of p..end. */

static unsigned
llmopt_cascade_options(const unsigned char *p, const unsigned char *end)
{
    int                   letter;
    unsigned              seen, n;
    const unsigned char  *line;

    seen = 0;

    for (line = p; line < end; /* void */ ) {

        while (line < end && (*line == ' ' || *line == '\t')) {
            line++;
        }

        letter = llmopt_cascade_letter_at(line, end);

        if (letter) {
            seen |= 1u << (letter - 'A');
        }

        line = memchr(line, '\n', end - line);

        if (line == NULL) {
            break;
        }

        line++;
    }

    for (n = 0; seen; seen &= seen - 1) {
        n++;
    }

    return n;
}


llmopt_cascade_format_e
llmopt_cascade_format_asked(const char *prompt, size_t len)
{
    size_t                i;
    const unsigned char  *p, *end;

    if (prompt == NULL) {
        return LLMOPT_CASCADE_FORMAT_NONE;
    }

    p = (const unsigned char *) prompt;
    end = p + (len < LLMOPT_CASCADE_EXTRACT_MAX
               ? len : LLMOPT_CASCADE_EXTRACT_MAX);

    if (llmopt_cascade_options(p, end) >= 2) {
        return LLMOPT_CASCADE_FORMAT_LETTER;
    }

    for ( /* void */ ; p < end; p++) {

        if (p > (const unsigned char *) prompt
            && llmopt_cascade_alnum(p[-1]))
        {
            continue;
        }

        if (llmopt_cascade_at(p, end, "the letter")) {
            return LLMOPT_CASCADE_FORMAT_LETTER;
        }

        for (i = 0; llmopt_cascade_number_asks[i] != NULL; i++) {
            if (llmopt_cascade_at(p, end, llmopt_cascade_number_asks[i])) {
                return LLMOPT_CASCADE_FORMAT_NUMBER;
            }
        }
    }

    return LLMOPT_CASCADE_FORMAT_NONE;
}


/*
 * LETTER: the answer starts with a letter A-J standing alone ("B", "(B)",
 * "B) ...", "b."), or says "answer is B" / "answer: (B)"; NUMBER: it has
 * a digit; both in the first LLMOPT_CASCADE_SCAN_MAX bytes.
 */

int
llmopt_cascade_format_match(llmopt_cascade_format_e format,
    const char *text, size_t len)
{
    const unsigned char  *p, *end, *q;

    if (text == NULL) {
        return 0;
    }

    p = (const unsigned char *) text;
    end = p + (len < LLMOPT_CASCADE_SCAN_MAX ? len : LLMOPT_CASCADE_SCAN_MAX);

    switch (format) {

    case LLMOPT_CASCADE_FORMAT_NUMBER:
        for ( /* void */ ; p < end; p++) {
            if (llmopt_cascade_digit(*p)) {
                return 1;
            }
        }

        return 0;

    case LLMOPT_CASCADE_FORMAT_LETTER:
        q = p;

        while (q < end && (*q == ' ' || *q == '\n' || *q == '\t'
                           || *q == '*' || *q == '('))
        {
            q++;
        }

        if (llmopt_cascade_choice(q, end)) {
            return 1;
        }

        for (q = p; q < end; q++) {

            if (!llmopt_cascade_at(q, end, "answer")
                || (q > p && llmopt_cascade_alnum(q[-1])))
            {
                continue;
            }

            q += sizeof("answer") - 1;

            while (q < end && (*q == ' ' || *q == ':' || *q == '*'
                               || *q == '('))
            {
                q++;
            }

            if (llmopt_cascade_at(q, end, "is")
                && (q + 2 == end || !llmopt_cascade_alnum(q[2])))
            {
                q += 2;

                while (q < end && (*q == ' ' || *q == ':' || *q == '*'
                                   || *q == '('))
                {
                    q++;
                }
            }

            if (llmopt_cascade_choice(q, end)) {
                return 1;
            }
        }

        return 0;

    default:
        return 0;
    }
}


void
llmopt_cascade_signals(const llmopt_cascade_extractor_t *ex,
    const llmopt_cascade_answer_t *ans, double *x)
{
    double    tokens;
    unsigned  i, n;

    memset(x, 0, LLMOPT_CASCADE_DIM * sizeof(double));

    x[LLMOPT_CASCADE_SIG_BIAS] = 1;

    tokens = ans->tokens ? (double) ans->tokens
             : (double) ans->len / LLMOPT_FEATURE_BYTES_PER_TOKEN;
    x[LLMOPT_CASCADE_SIG_LENGTH] = fmin(1, log2(1 + tokens) / 16);
    x[LLMOPT_CASCADE_SIG_EMPTY] = (ans->text == NULL || ans->len == 0);

    x[LLMOPT_CASCADE_SIG_COMPLETE] = (ans->finish == LLMOPT_FINISH_STOP
                                      || ans->finish == LLMOPT_FINISH_TOOL);
    x[LLMOPT_CASCADE_SIG_TRUNCATED] = (ans->finish == LLMOPT_FINISH_LENGTH);
    x[LLMOPT_CASCADE_SIG_FILTERED] = (ans->finish == LLMOPT_FINISH_OTHER);

    x[LLMOPT_CASCADE_SIG_REFUSAL] =
        llmopt_cascade_refusals(ans->text, ans->len) > 0;
    n = llmopt_cascade_hedges(ans->text, ans->len);
    x[LLMOPT_CASCADE_SIG_HEDGE] = (n > 4 ? 4 : n) / 4.0;

    if (ans->has_logprobs && ans->logprob_mean <= 0
        && ans->logprob_min <= 0)
    {
        /* exp of a NaN stays out: !(<= 0) took it to "none" */
        x[LLMOPT_CASCADE_SIG_LOGPROB_MEAN] = exp(ans->logprob_mean);
        x[LLMOPT_CASCADE_SIG_LOGPROB_MIN] = exp(ans->logprob_min);

    } else {
        x[LLMOPT_CASCADE_SIG_LOGPROB_NONE] = 1;
    }

    if (ans->other != NULL) {
        x[LLMOPT_CASCADE_SIG_AGREE] = llmopt_cascade_agree(ex, ans->text,
                                                           ans->len,
                                                           ans->other,
                                                           ans->other_len);
    } else {
        x[LLMOPT_CASCADE_SIG_AGREE_NONE] = 1;
    }

    if (ans->format != LLMOPT_CASCADE_FORMAT_NONE) {
        x[LLMOPT_CASCADE_SIG_FORMAT_ASKED] = 1;
        x[LLMOPT_CASCADE_SIG_FORMAT_MATCH] =
            llmopt_cascade_format_match(ans->format, ans->text, ans->len);
    }

    n = ans->request_d < LLMOPT_CASCADE_REQ_DIM
        ? ans->request_d : LLMOPT_CASCADE_REQ_DIM;

    for (i = 0; ans->request != NULL && i < n; i++) {
        if (isfinite(ans->request[i])) {
            x[LLMOPT_CASCADE_SIG_REQUEST + i] = ans->request[i];
        }
    }
}
