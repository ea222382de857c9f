import Foundation
import ProvisioningContract

/// Which dead letters a listing or a redrive covers: every field set must match. The same
/// filter drives `dlq list`, `dlq replay` and the console, and is what the audit records.
public struct DeadLetterFilter: Sendable, Codable, Equatable {
    public var category: String?
    public var code: String?
    public var target: String?
    /// Failed at or after, and before (RFC 3339 in the audit).
    public var since: Date?
    public var until: Date?
    /// Found, case-insensitive, in the commandId, key, target, error message or redacted value.
    public var text: String?
    /// Chosen one by one (the console's selected rows): only these, when set.
    public var positions: Set<DeadLetter.Position>?

    public init(
        category: String? = nil, code: String? = nil, target: String? = nil, since: Date? = nil, until: Date? = nil, text: String? = nil,
        positions: Set<DeadLetter.Position>? = nil
    ) {
        self.category = category
        self.code = code
        self.target = target
        self.since = since
        self.until = until
        self.text = text
        self.positions = positions
    }

    public func matches(_ letter: DeadLetter) -> Bool {
        if let positions, !positions.contains(letter.position) { return false }
        if let category, letter.category != category { return false }
        if let code, letter.code != code { return false }
        if let target, letter.target != target { return false }
        if let since, (letter.failedAt ?? .distantPast) < since { return false }
        if let until, (letter.failedAt ?? .distantFuture) >= until { return false }
        if let text, !text.isEmpty {
            // Searched in what a screen may show: a secret cannot be found by guessing it.
            let haystacks = [letter.commandId, letter.keyText, letter.target, letter.errorMessage.map { Redaction.scrub($0) }, letter.redactedValue]
            guard haystacks.contains(where: { $0?.range(of: text, options: .caseInsensitive) != nil }) else { return false }
        }
        return true
    }

    /// `category=unavailable target=tecs-test`, for a terminal and the audit's summary.
    public var summary: String {
        var parts: [String] = []
        if let category { parts.append("category=\(category)") }
        if let code { parts.append("code=\(code)") }
        if let target { parts.append("target=\(target)") }
        if let since { parts.append("since=\(Timestamp.format(since))") }
        if let until { parts.append("until=\(Timestamp.format(until))") }
        if let text { parts.append("text=\(text)") }
        if let positions { parts.append("\(positions.count) selected") }
        return parts.isEmpty ? "all" : parts.joined(separator: " ")
    }

    enum CodingKeys: String, CodingKey { case category, code, target, since, until, text, positions }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        category = try container.decodeIfPresent(String.self, forKey: .category)
        code = try container.decodeIfPresent(String.self, forKey: .code)
        target = try container.decodeIfPresent(String.self, forKey: .target)
        since = try container.decodeIfPresent(String.self, forKey: .since).map(Timestamp.parse)
        until = try container.decodeIfPresent(String.self, forKey: .until).map(Timestamp.parse)
        text = try container.decodeIfPresent(String.self, forKey: .text)
        positions = try container.decodeIfPresent([DeadLetter.Position].self, forKey: .positions).map(Set.init)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(category, forKey: .category)
        try container.encodeIfPresent(code, forKey: .code)
        try container.encodeIfPresent(target, forKey: .target)
        try container.encodeIfPresent(since.map(Timestamp.format), forKey: .since)
        try container.encodeIfPresent(until.map(Timestamp.format), forKey: .until)
        try container.encodeIfPresent(text, forKey: .text)
        try container.encodeIfPresent(positions.map { $0.sorted() }, forKey: .positions)
    }
}
