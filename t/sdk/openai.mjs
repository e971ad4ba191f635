// Drives the official OpenAI SDK against a base URL (nginx + llmopt):
//   node openai.mjs http://127.0.0.1:PORT/v1
// One call not streaming, one streaming, one streaming with usage; prints a
// JSON summary on stdout; exits non-zero on any SDK error.

import OpenAI from 'openai';

const baseURL = process.argv[2];
const client = new OpenAI({ baseURL, apiKey: 'sk-client-side',
                            maxRetries: 0, timeout: 20000 });
const messages = [{ role: 'user', content: 'Write a haiku about nginx.' }];
const out = {};

const completion = await client.chat.completions.create({
    model: 'auto', messages, temperature: 0.7,
});
out.json = {
    model: completion.model,
    text: completion.choices[0].message.content,
    finish_reason: completion.choices[0].finish_reason,
    usage: completion.usage,
};

for (const [name, extra] of [['stream', {}],
                             ['stream_usage',
                              { stream_options: { include_usage: true } }]]) {
    const stream = await client.chat.completions.create({
        model: 'auto', messages, stream: true, ...extra,
    });
    const r = { chunks: 0, text: '', model: null, usage: null,
                finish_reason: null };
    for await (const chunk of stream) {
        r.chunks++;
        r.model = chunk.model;
        if (chunk.usage) {
            r.usage = chunk.usage;
        }
        if (chunk.choices.length) {
            r.text += chunk.choices[0].delta.content ?? '';
            r.finish_reason = chunk.choices[0].finish_reason
                              ?? r.finish_reason;
        }
    }
    out[name] = r;
}

process.stdout.write(JSON.stringify(out) + '\n');
