import ProvisioningContract

/// What `reconcile` prints: the contract's JSON object, or a table per target.
public struct ReconcileReport: Sendable {
    public let reconciliation: Reconciliation
    /// Milliseconds since the epoch, for ages.
    public let now: Int64

    public init(_ reconciliation: Reconciliation, now: Int64) {
        self.reconciliation = reconciliation
        self.now = now
    }

    /// Section 12's object, plus `unknownReplies` and the same counts per target.
    public var json: String {
        func counts(_ counts: Reconciliation.Counts) -> [String: JSONValue] {
            [
                "commands": .integer(Int64(counts.commands)), "answered": .integer(Int64(counts.answered)),
                "duplicates": .integer(Int64(counts.duplicates)), "pending": .integer(Int64(counts.pending)),
                "unanswered": .integer(Int64(counts.unanswered)), "unknownReplies": .integer(Int64(counts.unknownReplies)),
            ]
        }
        var object = counts(reconciliation.total)
        object["unanswered"] = .array(
            reconciliation.unanswered.map { command in
                .object([
                    "partition": .integer(Int64(command.partition)), "offset": .integer(command.offset),
                    "key": command.key.map(JSONValue.string) ?? .null, "commandId": command.commandId.map(JSONValue.string) ?? .null,
                    "target": command.target.map(JSONValue.string) ?? .null, "age": .string(Self.age(now - command.timestampMilliseconds)),
                ])
            })
        object["targets"] = .object(reconciliation.byTarget.mapValues { .object(counts($0)) })
        var bytes: [UInt8] = []
        JSONWriter.append(.object(object), to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    public var table: String {
        let header = ["target", "commands", "answered", "duplicates", "pending", "unanswered", "unknown replies"]
        func row(_ name: String, _ counts: Reconciliation.Counts) -> [String] {
            [name] + [counts.commands, counts.answered, counts.duplicates, counts.pending, counts.unanswered, counts.unknownReplies].map { "\($0)" }
        }
        var rows = reconciliation.byTarget.sorted { $0.key < $1.key }.map { row($0.key, $0.value) }
        rows.append(row("all", reconciliation.total))
        var lines = Self.aligned([header] + rows)
        let unanswered = reconciliation.unanswered
        if unanswered.isEmpty, let reason = unprovenReason {
            lines.append("")
            lines.append(reason)
        } else if unanswered.isEmpty {
            lines.append("")
            lines.append(reconciliation.total.pending == 0 ? "every command has an answer" : "every command past its grace period has an answer")
        } else {
            lines.append("")
            lines.append("\(unanswered.count) command\(unanswered.count == 1 ? "" : "s") without an answer:")
            lines += Self.aligned(
                [["partition", "offset", "age", "target", "commandId", "key"]]
                    + unanswered.map {
                        ["\($0.partition)", "\($0.offset)", Self.age(now - $0.timestampMilliseconds), $0.target ?? "-", $0.commandId ?? "-", $0.key ?? "-"]
                    })
        }
        return lines.joined(separator: "\n")
    }

    /// Why "every command has an answer" cannot be claimed though none was found without one;
    /// nil when it can (contract section 8: `reconcile` then exits 3).
    public var unprovenReason: String? {
        let count = reconciliation.unreadCommandsAnswered
        guard count > 0 else { return nil }
        return "cannot prove that every command has an answer: \(count) repl\(count == 1 ? "y names a command" : "ies name commands") "
            + "that reconcile did not read. The commands topic was read short (a broker that reports a partition's end short) "
            + "or lost commands to retention; commands without an answer may be among them. Use --since to reconcile only what is kept."
    }

    /// `45s`, `3m12s`, `2h3m`, `4d7h`: the two largest units.
    static func age(_ milliseconds: Int64) -> String {
        let seconds = max(0, milliseconds / 1000)
        let (days, hours, minutes) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60)
        if days > 0 { return "\(days)d\(hours)h" }
        if hours > 0 { return "\(hours)h\(minutes)m" }
        if minutes > 0 { return "\(minutes)m\(seconds % 60)s" }
        return "\(seconds)s"
    }

    private static func aligned(_ rows: [[String]]) -> [String] {
        let widths = (0..<(rows.first?.count ?? 0)).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { column, text in
                column == row.count - 1 ? text : text.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
    }
}
