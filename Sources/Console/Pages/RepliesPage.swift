import Hummingbird

/// Replies, live: the page is a shell; the console pushes a summary every second as
/// server-sent events, and the script draws the counts, the charts (inline SVG) and the list.
enum RepliesPage {
    static let windows = [(60, "1 minute"), (300, "5 minutes"), (900, "15 minutes"), (3600, "1 hour")]

    static func render(window: Int, context: ConsoleRequestContext) -> Response {
        let options = windows.map { seconds, label -> HTML in
            "<option value=\"\(seconds)\"\(seconds == window ? HTML(" selected") : "")>\(label)</option>"
        }
        let body: HTML = """
            <section id="live" data-window="\(window)">
            <label>window <select id="window">\(options)</select></label> <span id="live-state" class="muted">connecting…</span>
            <div class="cards"><div><h2>By status</h2><table id="by-status"></table></div><div><h2>By category</h2><table id="by-category"></table></div>
            <div><h2>By target</h2><table id="by-target"></table></div><div><h2>Latency</h2><table id="latency"></table></div></div>
            <h2>Throughput per target</h2><div id="throughput"></div>
            <h2>Latency histogram</h2><div id="histogram"></div>
            <h2>Newest replies</h2>
            <table id="recent"><thead><tr><th>completed</th><th>commandId</th><th>target</th><th>operation</th><th>status</th><th>category</th><th>code</th><th>ms</th><th>worker</th></tr></thead><tbody></tbody></table>
            </section>
            <script src="/assets/console.js"></script>
            """
        return Layout.page("Replies", path: "/replies", context: context, body: body)
    }
}
