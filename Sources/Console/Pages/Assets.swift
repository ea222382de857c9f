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
          async function post(url, body) {
            const response = await fetch(url, { method: 'POST', credentials: 'same-origin',
              headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': token }, body: JSON.stringify(body || {}) });
            const answer = await response.json().catch(() => ({}));
            if (!response.ok) throw new Error(answer.error || response.statusText);
            return answer;
          }
          if (!$('#redrive')) return;
          let request = null, current = null, events = null;
          const say = (selector, text) => { $(selector).textContent = text; };
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
