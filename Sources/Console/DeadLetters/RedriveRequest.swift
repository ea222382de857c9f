import Foundation
import ProvisioningContract
import Redrive

/// What the dead-letter page asks of `/api/redrives` (preview and start), as JSON.
struct RedriveRequest: Decodable, Sendable {
    var category: String?
    var code: String?
    var target: String?
    /// RFC 3339.
    var since: String?
    var until: String?
    var text: String?
    /// Chosen rows as `partition/offset`; absent for "everything matching".
    var positions: [String]?
    var includeReplayed: Bool?
    /// Re-send as `"dryRun": true` (the workers answer with the request they would send).
    var asDryRun: Bool?
    /// Records a second.
    var rate: Double?

    /// The filter, or the name of the field that does not parse.
    func filter() -> Result<DeadLetterFilter, RedriveRequestError> {
        var filter = DeadLetterFilter(category: Self.blank(category), code: Self.blank(code), target: Self.blank(target), text: Self.blank(text))
        for (name, value, keyPath) in [("since", since, \DeadLetterFilter.since), ("until", until, \DeadLetterFilter.until)] {
            guard let text = Self.blank(value) else { continue }
            guard let date = try? Timestamp.parse(text) else { return .failure(RedriveRequestError(field: name, message: "must be an RFC 3339 time")) }
            filter[keyPath: keyPath] = date
        }
        if let positions {
            var chosen: Set<DeadLetter.Position> = []
            for text in positions {
                let parts = text.split(separator: "/")
                guard parts.count == 2, let partition = Int32(parts[0]), let offset = Int64(parts[1]) else {
                    return .failure(RedriveRequestError(field: "positions", message: "'\(text)' is not partition/offset"))
                }
                chosen.insert(DeadLetter.Position(partition: partition, offset: offset))
            }
            filter.positions = chosen
        }
        if let rate, !(rate > 0) { return .failure(RedriveRequestError(field: "rate", message: "must be a positive number of records a second")) }
        return .success(filter)
    }

    private static func blank(_ text: String?) -> String? {
        guard let text, !text.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        return text
    }
}

struct RedriveRequestError: Error, Sendable {
    let field: String
    let message: String
}

/// The preview: what a start with the same request would send.
struct RedrivePreview: Encodable, Sendable {
    struct Line: Encodable, Sendable {
        let target: String
        let category: String
        let count: Int
    }

    let selected: Int
    let skipped: Int
    let lines: [Line]

    init(_ plan: RedrivePlan) {
        selected = plan.letters.count
        skipped = plan.skipped.count
        lines = plan.preview.map { Line(target: $0.target, category: $0.category, count: $0.count) }
    }
}

/// A redrive's progress, as the page shows it.
struct RedriveProgress: Encodable, Sendable {
    let id: String
    let state: String
    let sent: Int
    let total: Int

    init(_ redrive: Redrive) {
        let progress = redrive.progress
        id = redrive.id
        state = progress.state.rawValue
        sent = progress.sent
        total = progress.total
    }
}
