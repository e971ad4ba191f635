// Drives the official OpenAI SDK's Responses API against a base URL (nginx
// in front of a provider or a mock):
//
//   node openai-responses.mjs [BASE_URL [MODEL]]
//
// BASE_URL defaults to $OPENAI_BASE_URL (it ends in /v1), MODEL to
// $LLMOPT_SDK_MODEL or "auto".  Makes one client.responses.create() call
// not streaming, one streaming (the raw response.* events), one through
// the SDK's stream helper (client.responses.stream(), which assembles the
// response from the events), and one with previous_response_id, which
// must fail as an SDK error; prints one JSON line on stdout:
//   {"json":   {id, model, status, text, usage},
//    "stream": {model, status, text, usage, events, sequence_ok},
//    "helper": {model, status, text, usage},
//    "previous": {status, message}}
// and exits 1 on any other SDK error (the message goes to stderr).

import OpenAI from 'openai';

const baseURL = process.argv[2] ?? process.env.OPENAI_BASE_URL;
const model = process.argv[3] ?? process.env.LLMOPT_SDK_MODEL ?? 'auto';

async function main() {
    if (!baseURL) {
        throw new Error('usage: node openai-responses.mjs BASE_URL [MODEL]');
    }

    const client = new OpenAI({
        baseURL,
        apiKey: process.env.OPENAI_API_KEY ?? 'sk-client-side',
        maxRetries: 0, timeout: 20000,
    });
    const request = {
        model, instructions: 'Be brief.',
        input: [{ role: 'user',
                  content: [{ type: 'input_text',
                              text: 'Write a haiku about nginx.' }] }],
        max_output_tokens: 200,
    };
    const out = {};

    const response = await client.responses.create(request);
    out.json = {
        id: response.id, model: response.model, status: response.status,
        text: response.output_text, usage: response.usage ?? null,
    };

    const stream = await client.responses.create({ ...request,
                                                   stream: true });
    const r = { model: null, status: null, text: '', usage: null,
                events: [], sequence_ok: true };
    for await (const event of stream) {
        if (event.sequence_number !== r.events.length) {
            r.sequence_ok = false;
        }
        r.events.push(event.type);
        if (event.type === 'response.output_text.delta') {
            r.text += event.delta;
        }
        if (event.type === 'response.completed'
            || event.type === 'response.incomplete')
        {
            r.model = event.response.model;
            r.status = event.response.status;
            r.usage = event.response.usage;
        }
    }
    out.stream = r;

    const helper = client.responses.stream(request);
    const final = await helper.finalResponse();
    out.helper = { model: final.model, status: final.status,
                   text: final.output_text, usage: final.usage ?? null };

    try {
        await client.responses.create({ ...request,
                                        previous_response_id: 'resp_1' });
        out.previous = { status: 200, message: null };
    } catch (e) {
        if (!(e instanceof OpenAI.APIError)) {
            throw e;
        }
        out.previous = { status: e.status, message: e.message };
    }

    process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
    process.stderr.write(`openai-responses.mjs: ${e.name}: ${e.message}\n`);
    process.exit(1);
});
