import Foundation
import Hummingbird
import ProvisioningContract

/// The fleet: each worker with its partitions, lag, in-flight and paused state, and each
/// target's breaker and error rate; a worker silent for three intervals is marked gone.
enum FleetPage {
    static func render(_ members: [Fleet.Member], now: Date, context: ConsoleRequestContext) -> Response {
        let rows = members.map { member -> HTML in
            let status = member.status
            let partitions = status.partitions.map { partition -> HTML in
                let lag = partition.lag.map { "lag \($0)" } ?? "lag ?"
                let committed = partition.committed.map { "committed \($0)" } ?? "nothing committed"
                let paused: HTML = partition.paused ? " <strong>paused</strong>" : ""
                return "<div>\(partition.partition): \(lag), queued \(partition.queued), \(committed)\(paused)</div>"
            }
            let targets = status.targets.sorted { $0.key < $1.key }.map { name, target -> HTML in
                let done = target.succeeded + target.failed
                let rate = done == 0 ? "–" : String(format: "%.1f%%", Double(target.failed) * 100 / Double(done))
                return
                    "<div>\(name): <span class=\"breaker-\(target.breaker)\">\(target.breaker)</span>, errors \(rate) of \(done), in flight \(target.inFlight), retries \(target.retries)</div>"
            }
            let age = max(0, Int(now.timeIntervalSince(member.at)))
            return """
                <tr data-worker="\(status.worker)"><td>\(status.worker)</td>
                <td class="presence-\(member.presence.rawValue)">\(member.presence.rawValue)</td>
                <td>\(age) s ago</td><td>\(status.inFlight) / \(status.maxInFlight)</td>
                <td>\(partitions.isEmpty ? [HTML("<span class=\"muted\">none</span>")] : partitions)</td><td>\(targets)</td>
                <td>\(status.version)<br><span class="muted">\(status.group)</span></td></tr>
                """
        }
        let table: HTML =
            members.isEmpty
            ? "<p class=\"muted\">No worker has reported yet.</p>"
            : """
            <table id="fleet"><thead><tr><th>worker</th><th>state</th><th>last status</th><th>in flight</th><th>partitions</th><th>targets</th><th>version</th></tr></thead>
            <tbody>\(rows)</tbody></table>
            """
        return Layout.page("Fleet", path: "/", context: context, body: table)
    }

    /// The same, for scripts: `GET /api/fleet`.
    struct Entry: Encodable {
        let presence: String
        let status: WorkerStatus
    }

    static func json(_ members: [Fleet.Member]) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(members.map { Entry(presence: $0.presence.rawValue, status: $0.status) })
        return Response(
            status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
