/// The console's own style sheet and script (no build step, nothing fetched from elsewhere).
enum Assets {
    static let css = """
        body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2430; background: #f6f7f9; }
        header { display: flex; gap: 1.5em; align-items: center; padding: .6em 1.2em; background: #1d2430; color: #fff; }
        header nav a { color: #c9d3e3; margin-right: 1em; text-decoration: none; }
        header nav a.current { color: #fff; border-bottom: 2px solid #6aa7ff; }
        header .user { margin-left: auto; color: #c9d3e3; }
        main { padding: 1em 1.2em; }
        table { border-collapse: collapse; background: #fff; width: 100%; }
        th, td { text-align: left; padding: .35em .6em; border-bottom: 1px solid #e3e6eb; vertical-align: top; }
        th { background: #eef1f5; font-weight: 600; }
        .presence-running { color: #11772d; } .presence-stopping { color: #9a6700; }
        .presence-gone { color: #b42318; font-weight: 600; } .presence-stopped { color: #6b7280; }
        .breaker-open { color: #b42318; font-weight: 600; } .breaker-half-open { color: #9a6700; }
        .muted { color: #6b7280; }
        form.login { max-width: 22em; background: #fff; padding: 1.2em; border: 1px solid #e3e6eb; }
        form.login label { display: block; margin: .6em 0 .2em; } form.login input { width: 100%; padding: .35em; }
        button { margin-top: .8em; padding: .4em 1em; }
        .cards { display: flex; gap: 1em; flex-wrap: wrap; } .cards > div { min-width: 14em; }
        tr.duplicate { background: #fff4e5; } svg { background: #fff; border: 1px solid #e3e6eb; }
        .panel { background: #fff; border: 1px solid #e3e6eb; padding: .6em 1em; margin: .8em 0; }
        .panel label { margin-right: 1em; } #preview, #progress { white-space: pre-line; margin: .5em 0; }
        form#filter input { width: 11em; } pre { background: #fff; border: 1px solid #e3e6eb; padding: .8em; white-space: pre-wrap; }
        """
    /// The dead-letter page's redrive panel: preview, start, progress (server-sent events) and
    /// controls. Every POST carries the page's CSRF token.
    static let javascript = #"""
        (() => {
          const token = document.querySelector('meta[name="csrf-token"]').content;
          const $ = (selector) => document.querySelector(selector);
          const say = (selector, text) => { $(selector).textContent = text; };
          async function post(url, body) {
            const response = await fetch(url, { method: 'POST', credentials: 'same-origin',
              headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': token }, body: JSON.stringify(body || {}) });
            const answer = await response.json().catch(() => ({}));
            if (!response.ok) throw new Error(answer.error || response.statusText);
            return answer;
          }
          function cells(row, values) { for (const value of values) { const cell = row.insertCell(); cell.textContent = value ?? ''; } }
          function table(selector, entries) {
            const element = $(selector); element.innerHTML = '';
            for (const [name, value] of entries) cells(element.insertRow(), [name, value]);
          }
          const svg = (width, height, inner) => `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${inner}</svg>`;
          const colours = ['#2f6fdb', '#d9822b', '#2e9e5b', '#b42318', '#7a4fd1', '#6b7280'];
          function throughput(series, slotSeconds) {
            const names = Object.keys(series).sort(), width = 720, height = 160;
            const peak = Math.max(1, ...names.flatMap((name) => series[name]));
            let inner = `<text x="4" y="12" font-size="11">${peak} per ${slotSeconds} s</text>`;
            names.forEach((name, index) => {
              const points = series[name].map((count, slot, all) => `${(slot / Math.max(1, all.length - 1) * (width - 10) + 5).toFixed(1)},${(height - 5 - count / peak * (height - 25)).toFixed(1)}`).join(' ');
              inner += `<polyline fill="none" stroke="${colours[index % colours.length]}" stroke-width="2" points="${points}"><title></title></polyline>`;
              inner += `<text x="${width - 150}" y="${14 + index * 14}" font-size="11" fill="${colours[index % colours.length]}" class="legend"></text>`;
            });
            $('#throughput').innerHTML = svg(width, height, inner);
            const legends = $('#throughput').querySelectorAll('text.legend');
            names.forEach((name, index) => { legends[index].textContent = name; });
          }
          function histogram(buckets) {
            const width = 720, height = 140, peak = Math.max(1, ...buckets.map((bucket) => bucket.count)), step = width / buckets.length;
            let inner = '';
            buckets.forEach((bucket, index) => {
              const bar = bucket.count / peak * (height - 30);
              inner += `<rect x="${(index * step + 2).toFixed(1)}" y="${(height - 18 - bar).toFixed(1)}" width="${(step - 4).toFixed(1)}" height="${bar.toFixed(1)}" fill="#2f6fdb"><title>${bucket.count}</title></rect>`;
              inner += `<text x="${(index * step + 2).toFixed(1)}" y="${height - 4}" font-size="10">${bucket.le == null ? '∞' : '≤' + bucket.le}</text>`;
            });
            $('#histogram').innerHTML = svg(width, height, inner);
          }
          function live() {
            let source = null;
            const connect = () => {
              if (source) source.close();
              source = new EventSource(`/api/replies/events?window=${$('#window').value}`);
              source.onopen = () => say('#live-state', 'live');
              source.onerror = () => say('#live-state', 'reconnecting…');
              source.onmessage = (message) => {
                const summary = JSON.parse(message.data);
                say('#live-state', `live: ${summary.total} replies in the window, ${summary.seen} read`);
                table('#by-status', Object.entries(summary.byStatus));
                table('#by-category', Object.entries(summary.byCategory));
                table('#by-target', Object.entries(summary.byTarget).map(([name, counts]) => [name, Object.entries(counts).map(([status, count]) => `${status} ${count}`).join(', ')]));
                table('#latency', [['p50', summary.p50 ?? '–'], ['p90', summary.p90 ?? '–'], ['p99', summary.p99 ?? '–']].map(([name, value]) => [name, value === '–' ? value : `≤ ${value} ms`]));
                throughput(summary.series, summary.slotSeconds);
                histogram(summary.histogram);
                const body = $('#recent tbody'); body.innerHTML = '';
                for (const reply of summary.recent) {
                  const row = body.insertRow();
                  if (reply.duplicate) row.className = 'duplicate';
                  cells(row, [reply.completedAt, reply.commandId, reply.target, reply.operation, reply.status + (reply.duplicate ? ' (duplicate)' : ''), reply.category, reply.code, reply.durationMs, reply.worker]);
                }
              };
            };
            $('#window').addEventListener('change', connect);
            connect();
          }
          if ($('#live')) live();
          if (!$('#redrive')) return;
          let request = null, current = null, events = null;
          function filter() {
            const fields = {};
            for (const [name, value] of new FormData($('#filter'))) if (value) fields[name] = value;
            return fields;
          }
          function options() {
            const rate = parseFloat($('#rate').value);
            return { includeReplayed: $('#include-replayed').checked, asDryRun: $('#as-dry-run').checked, rate: rate > 0 ? rate : undefined };
          }
          async function preview(selected) {
            request = filter();
            if (selected) request.positions = [...document.querySelectorAll('.pick:checked')].map((box) => box.value);
            try {
              const plan = await post('/api/redrives/preview', Object.assign({}, request, options()));
              const lines = plan.lines.map((line) => `${line.target} · ${line.category}: ${line.count}`).join('\n');
              say('#preview', `${plan.selected} to re-publish` + (plan.skipped ? `, ${plan.skipped} skipped as redriven before` : '') + (lines ? '\n' + lines : ''));
              $('#start').hidden = plan.selected === 0;
            } catch (error) { say('#preview', 'refused: ' + error.message); $('#start').hidden = true; }
          }
          function show(progress) {
            say('#progress', `redrive ${progress.id}: ${progress.state}, ${progress.sent} of ${progress.total} sent`);
            const live = progress.state === 'running' || progress.state === 'paused';
            $('#pause').hidden = progress.state !== 'running';
            $('#resume').hidden = progress.state !== 'paused';
            $('#cancel').hidden = !live;
            if (!live && events) { events.close(); events = null; }
          }
          function follow(id) {
            current = id;
            events = new EventSource(`/api/redrives/${id}/events`);
            events.onmessage = (message) => show(JSON.parse(message.data));
          }
          $('#preview-selected').addEventListener('click', () => preview(true));
          $('#preview-matching').addEventListener('click', () => preview(false));
          $('#start').addEventListener('click', async () => {
            $('#start').hidden = true;
            try { follow((await post('/api/redrives', Object.assign({}, request, options()))).id); }
            catch (error) { say('#progress', 'refused: ' + error.message); }
          });
          for (const action of ['pause', 'resume', 'cancel']) {
            $('#' + action).addEventListener('click', async () => {
              try { show(await post(`/api/redrives/${current}/${action}`)); } catch (error) { say('#progress', 'refused: ' + error.message); }
            });
          }
        })();
        """#
}
