// Loads the llmopt dashboard in headless Chromium (Debian's, driven by
// playwright-core) at each width, waits until its charts were drawn from
// the status it fetched, saves a screenshot per width and prints, as JSON:
// the console errors, the page errors, the failed requests, and per width
// what window.llmoptDashboard holds, the cards' texts, the arm table's
// cells, the chart canvases and whether anything is wider than the window.
//
//   node t/browser/dashboard.mjs <url> <screenshot prefix> [width,...]
//
// Screenshots: <prefix>-<width>.png (the whole page) and
// <prefix>-<width>-top.png (the first screen); widths default to 1400,360.

import { chromium } from 'playwright-core';
import fs from 'node:fs';

const [url, prefix, list] = process.argv.slice(2);
const widths = (list || '1400,360').split(',').map(Number);

if (!url || !prefix) {
    console.error('usage: dashboard.mjs <url> <prefix> [width,...]');
    process.exit(2);
}

const exe = [process.env.LLMOPT_CHROMIUM, '/usr/lib/chromium/chromium',
             '/usr/bin/chromium'].find((p) => p && fs.existsSync(p));

if (!exe) {
    console.error('dashboard.mjs: no chromium (Debian package "chromium")');
    process.exit(2);
}

const out = { console_errors: [], page_errors: [], failed: [], requests: [],
              views: {} };

const browser = await chromium.launch({
    executablePath: exe,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});

try {
    for (const width of widths) {
        const page = await browser.newPage({ viewport: { width,
                                                         height: 900 } });

        page.on('console', (m) => {
            if (m.type() === 'error') {
                out.console_errors.push(m.text());
            }
        });
        page.on('pageerror', (e) => out.page_errors.push(String(e)));
        page.on('requestfailed', (r) => out.failed.push(r.url()));
        page.on('request', (r) => out.requests.push(r.url()));

        const res = await page.goto(url, { waitUntil: 'load' });
        out.status = res.status();
        out.content_type = res.headers()['content-type'];
        out.csp = res.headers()['content-security-policy'];

        await page.waitForFunction(
            () => window.llmoptDashboard && window.llmoptDashboard.updated > 0,
            null, { timeout: 15000 });

        const view = await page.evaluate(() => {
            const d = window.llmoptDashboard;
            const cards = {};
            document.querySelectorAll('.card').forEach((c) => {
                cards[c.dataset.k] = {
                    title: c.querySelector('.k').textContent,
                    value: c.querySelector('.v').textContent,
                    sub: c.querySelector('.s').textContent };
            });
            const rows = [...document.querySelectorAll('#summary tr')]
                .map((tr) => [...tr.children].map((td) => td.textContent));
            // a y-axis label that does not fit its axis is clipped
            const clipped = [...document.querySelectorAll('.uplot')]
                .filter((u) => u.scrollWidth > u.clientWidth + 1).length;
            return { policy: d.policy, updated: d.updated, errors: d.errors,
                     status: d.status, range: d.range,
                     resolution: d.resolution,
                     titles: [...document.querySelectorAll('.chart h3')]
                         .map((h) => h.textContent.replace(/\s+/g, ' ')),
                     charts: d.charts, arms: d.data.names,
                     markers: d.markers,
                     figures: d.figures, cards, rows, clipped,
                     canvases: document.querySelectorAll('.uplot canvas')
                         .length,
                     summary_rows: rows.length - 1,
                     scroll_width: document.documentElement.scrollWidth,
                     meta: document.getElementById('meta').textContent };
        });

        view.screenshot = `${prefix}-${width}.png`;
        await page.screenshot({ path: view.screenshot, fullPage: true });
        // the first screen alone, as a phone shows it
        await page.screenshot({ path: `${prefix}-${width}-top.png` });
        out.views[width] = view;
        await page.close();
    }
} finally {
    await browser.close();
}

process.stdout.write(JSON.stringify(out) + '\n');
