import Foundation
import Hummingbird
import ProvisioningContract
import Redrive

/// Dead letters: a filtered list (values redacted as logs have them), a detail view with the
/// headers, and the redrive panel (preview, dry run first, pace, start, pause, resume, cancel).
enum DeadLettersPage {
    /// The filter form's fields, echoed back into it.
    struct Query {
        var category = "", code = "", target = "", since = "", until = "", text = ""

        init(_ parameters: [String: String]) {
            category = parameters["category"] ?? ""
            code = parameters["code"] ?? ""
            target = parameters["target"] ?? ""
            since = parameters["since"] ?? ""
            until = parameters["until"] ?? ""
            text = parameters["text"] ?? ""
        }

        var request: RedriveRequest {
            RedriveRequest(category: category, code: code, target: target, since: since, until: until, text: text)
        }
    }

    static let shown = 500

    static func render(
        _ letters: [DeadLetter], query: Query, error: String?, redriven: [DeadLetter.Position: Int], counts: (seen: Int, held: Int),
        context: ConsoleRequestContext
    ) -> Response {
        func field(_ name: String, _ value: String, _ placeholder: String) -> HTML {
            "<label>\(name) <input name=\"\(name)\" value=\"\(value)\" placeholder=\"\(placeholder)\"></label> "
        }
        let form: HTML = """
            <form id="filter" method="get" action="/dead-letters">
            \(field("category", query.category, "unavailable"))\(field("code", query.code, "24012"))\(field("target", query.target, "tecs-test"))
            \(field("since", query.since, "2026-12-01T00:00:00Z"))\(field("until", query.until, "RFC 3339"))\(field("text", query.text, "commandId, key, message"))
            <button type="submit">Filter</button></form>
            """
        let notice: HTML = error.map { "<p class=\"breaker-open\" id=\"filter-error\">\($0)</p>" } ?? ""
        let rows = letters.prefix(shown).map { letter -> HTML in
            let position = letter.position.description
            let times = redriven[letter.position].map { "redriven \($0)×" } ?? ""
            return """
                <tr data-position="\(position)"><td><input type="checkbox" class="pick" value="\(position)" aria-label="select \(position)"></td>
                <td><a href="/dead-letters/\(letter.position.partition)/\(letter.position.offset)">\(position)</a></td>
                <td>\(letter.headers.string("dlq.failed.at") ?? "")</td><td>\(letter.target ?? "–")</td><td>\(letter.category ?? "–")</td>
                <td>\(letter.code ?? "–")</td><td>\(letter.commandId ?? "–")</td><td>\(Redaction.scrub(letter.errorMessage ?? ""))</td>
                <td class="replayed">\(times)</td></tr>
                """
        }
        let more: HTML = letters.count > shown ? "<p class=\"muted\">Showing \(shown) of \(letters.count) matching; narrow the filter to see the rest.</p>" : ""
        let body: HTML = """
            \(form)\(notice)
            <p class="muted">\(letters.count) matching of \(counts.held) held (\(counts.seen) read; the window keeps the newest).</p>
            <section id="redrive" class="panel">
            <label><input type="checkbox" id="include-replayed"> include already redriven</label>
            <label><input type="checkbox" id="as-dry-run"> re-send as dry run (dryRun: true)</label>
            <label>pace <input id="rate" size="5" placeholder="all"> a second</label>
            <button id="preview-selected" type="button">Preview selected</button>
            <button id="preview-matching" type="button">Preview all matching</button>
            <div id="preview"></div>
            <button id="start" type="button" hidden>Start redrive</button>
            <div id="progress"></div>
            <button id="pause" type="button" hidden>Pause</button><button id="resume" type="button" hidden>Resume</button><button id="cancel" type="button" hidden>Cancel</button>
            </section>
            <table id="dead-letters"><thead><tr><th></th><th>position</th><th>failed at</th><th>target</th><th>category</th><th>code</th><th>commandId</th><th>error</th><th></th></tr></thead>
            <tbody>\(rows)</tbody></table>\(more)
            <script src="/assets/console.js"></script>
            """
        return Layout.page("Dead letters", path: "/dead-letters", context: context, body: body)
    }

    static func detail(_ letter: DeadLetter, redriven: Int?, context: ConsoleRequestContext) -> Response {
        let headers = letter.redactedHeaders.map { header -> HTML in "<tr><th>\(header.key)</th><td>\(header.value)</td></tr>" }
        let body: HTML = """
            <p><a href="/dead-letters">← all dead letters</a></p>
            <table id="dead-letter"><tbody>
            <tr><th>position</th><td>\(letter.position.description)</td></tr>
            <tr><th>key</th><td>\(letter.keyText ?? "–")</td></tr>
            <tr><th>commandId</th><td>\(letter.commandId ?? "–")</td></tr>
            <tr><th>redriven</th><td>\(redriven.map { "\($0)×" } ?? "never")</td></tr>
            </tbody></table>
            <h2>Headers</h2><table id="headers"><tbody>\(headers)</tbody></table>
            <h2>Value</h2><pre id="value">\(letter.redactedValue)</pre>
            """
        return Layout.page("Dead letter \(letter.position)", path: "/dead-letters", context: context, body: body)
    }
}
