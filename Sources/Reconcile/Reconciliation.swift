import Kafka
import ProvisioningContract

/// Which commands got an answer (contract section 12), from the replies, the dead letters and
/// the commands, fed in that order.
///
/// Memory: per reply one entry keyed by the hash of its `commandId` (8 bytes and a few counters,
/// never the id itself), per dead letter its position, and the details of the commands found
/// unanswered. Two different `commandId`s hashing alike (a chance of about 1 in 10^7 among a
/// million commands) would make one of them look answered.
public struct Reconciliation: Sendable {
    public struct Counts: Sendable, Equatable {
        public var commands = 0
        public var answered = 0
        public var duplicates = 0
        public var pending = 0
        public var unanswered = 0
        public var unknownReplies = 0

        public init() {}

        mutating func add(_ other: Counts) {
            commands += other.commands
            answered += other.answered
            duplicates += other.duplicates
            pending += other.pending
            unanswered += other.unanswered
            unknownReplies += other.unknownReplies
        }
    }

    public struct Unanswered: Sendable, Equatable {
        public var partition: Int32
        public var offset: Int64
        public var key: String?
        public var commandId: String?
        public var target: String?
        /// When the command was written, milliseconds since the epoch.
        public var timestampMilliseconds: Int64
    }

    /// Replies and commands seen for one `commandId`.
    private struct Entry {
        var replies: UInt32 = 0
        var commands: UInt32 = 0
        /// Index into `targetNames`: the target the first reply named.
        var target: UInt16 = 0
    }

    private struct Position: Hashable {
        var partition: Int32
        var offset: Int64
    }

    /// Commands written before this (ms since the epoch) are left out; nil: from the beginning.
    public let since: Int64?
    /// Commands written at or after this are left out.
    public let until: Int64?
    /// Commands written after this have not had their grace period yet: pending, not unanswered.
    public let graceCutoff: Int64
    public let commandsTopic: String

    private var entries: [Int: Entry] = [:]
    private var targetNames: [String] = ["-"]
    private var targetIndex: [String: UInt16] = ["-": 0]
    private var deadLetters: Set<Position> = []
    public private(set) var byTarget: [String: Counts] = [:]
    public private(set) var unanswered: [Unanswered] = []

    public init(commandsTopic: String, since: Int64?, until: Int64?, graceCutoff: Int64) {
        self.commandsTopic = commandsTopic
        self.since = since
        self.until = until
        self.graceCutoff = graceCutoff
    }

    /// Room for this many replies at once: growing the table as they come would hold the old
    /// and the new one together, twice the memory at the peak.
    public mutating func expect(replies: Int64) {
        entries.reserveCapacity(Int(clamping: replies))
    }

    /// A record of the replies topic: its `commandId` header names the command.
    public mutating func reply(_ message: KafkaConsumerMessage) {
        guard let commandId = message.headers.string("commandId"), !commandId.isEmpty else { return }
        let target = message.value.flatMap(Self.fields)?.target
        let index = self.index(of: target)
        entries[commandId.hashValue, default: Entry(target: index)].replies += 1
    }

    /// A record of the dead-letter topic: the command it names by partition and offset.
    public mutating func deadLetter(_ message: KafkaConsumerMessage) {
        guard message.headers.string("dlq.original.topic") == commandsTopic,
            let partition = message.headers.string("dlq.original.partition").flatMap({ Int32($0) }),
            let offset = message.headers.string("dlq.original.offset").flatMap({ Int64($0) })
        else { return }
        deadLetters.insert(Position(partition: partition, offset: offset))
    }

    /// A record of the commands topic, after every reply and dead letter. Every command read
    /// makes the replies naming it known, counted or not: a reply is unknown only when its
    /// command is not in the topic at all.
    public mutating func command(_ message: KafkaConsumerMessage) {
        let timestamp = message.timestampMilliseconds ?? 0
        let fields = message.value.flatMap(Self.fields)
        let hash = fields?.commandId.flatMap { $0.isEmpty ? nil : $0.hashValue }
        let replied = hash.map { entries[$0] != nil } ?? false
        if let hash, replied { entries[hash]!.commands += 1 }
        if let since, timestamp < since { return }
        if let until, timestamp >= until { return }
        let target = fields?.target ?? "-"
        var counts = byTarget[target, default: Counts()]
        counts.commands += 1
        let answered: Bool
        if hash != nil {
            answered = replied
        } else {
            answered = deadLetters.contains(Position(partition: message.partition, offset: message.offset))
        }
        if answered {
            counts.answered += 1
        } else if timestamp > graceCutoff {
            counts.pending += 1
        } else {
            counts.unanswered += 1
            unanswered.append(
                Unanswered(
                    partition: message.partition, offset: message.offset, key: message.key.map { String(decoding: $0, as: UTF8.self) },
                    commandId: fields?.commandId, target: fields?.target, timestampMilliseconds: timestamp))
        }
        byTarget[target] = counts
    }

    /// Once every command is in: commands answered more than once, replies no command asked for.
    public mutating func finish() {
        for entry in entries.values {
            let target = targetNames[Int(entry.target)]
            if entry.commands == 0 {
                byTarget[target, default: Counts()].unknownReplies += Int(entry.replies)
            } else if entry.replies > entry.commands {
                byTarget[target, default: Counts()].duplicates += 1
            }
        }
        entries = [:]
        unanswered.sort { ($0.partition, $0.offset) < ($1.partition, $1.offset) }
    }

    /// Replies naming a command that was not read, where that disproves "all answered": read
    /// from the beginning (no `since`), such a reply means the commands topic was read short (a
    /// broker that reports a partition's end short) or lost commands to retention, so commands
    /// without an answer may be missing from the count. 0 with `since` (older commands are left
    /// out on purpose).
    public var unreadCommandsAnswered: Int { since == nil ? total.unknownReplies : 0 }

    public var total: Counts {
        var total = Counts()
        for counts in byTarget.values { total.add(counts) }
        return total
    }

    private mutating func index(of target: String?) -> UInt16 {
        guard let target else { return 0 }
        if let index = targetIndex[target] { return index }
        guard targetNames.count < Int(UInt16.max) else { return 0 }
        let index = UInt16(targetNames.count)
        targetNames.append(target)
        targetIndex[target] = index
        return index
    }

    /// The `commandId` and `target` of a command or reply, when it is a JSON object.
    private static func fields(_ value: [UInt8]) -> (commandId: String?, target: String?)? {
        guard value.count <= CommandDecoder.maximumSize, case .object(let object)? = try? JSONParser.parse(value) else { return nil }
        return (object["commandId"]?.stringValue, object["target"]?.stringValue)
    }
}
