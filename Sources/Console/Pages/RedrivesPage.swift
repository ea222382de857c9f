import Foundation
import Hummingbird
import Redrive

/// Redrive history, from the audit topic: who, when, which filter, what it covered, how it ended.
enum RedrivesPage {
    static func render(_ records: [RedriveRecord], context: ConsoleRequestContext) -> Response {
        let rows = records.map { record -> HTML in
            let options = [record.asDryRun ? "as dry run" : nil, record.includeReplayed ? "include redriven" : nil, record.rate.map { "\($0.formatted())/s" }]
                .compactMap { $0 }.joined(separator: ", ")
            return """
                <tr data-redrive="\(record.id)"><td>\(record.at)</td><td>\(record.by)</td><td class="state">\(record.state.rawValue)</td>
                <td>\(record.filters.summary)</td><td>\(options)</td>
                <td>\(record.coveredPositions.count) of \(record.selected)\(record.skipped > 0 ? " (\(record.skipped) skipped)" : "")</td>
                <td class="muted">\(record.id)</td></tr>
                """
        }
        let body: HTML =
            records.isEmpty
            ? "<p class=\"muted\">No redrive yet.</p>"
            : """
            <table id="redrives"><thead><tr><th>started</th><th>by</th><th>state</th><th>filter</th><th>options</th><th>sent</th><th>id</th></tr></thead>
            <tbody>\(rows)</tbody></table>
            """
        return Layout.page("Redrives", path: "/redrives", context: context, body: body)
    }
}
