import Foundation

/// Why a command failed (contract section 4); decides whether a person must look at it.
public enum ErrorCategory: String, Sendable, Hashable, CaseIterable, Codable {
    case invalidCommand = "invalid_command"
    case unknownTarget = "unknown_target"
    case unsupportedOperation = "unsupported_operation"
    case expired
    case validation
    case conflict
    case notFound = "not_found"
    case unauthorized
    case unavailable
    case vendorError = "vendor_error"
    case `internal`

    /// Whether a failure of this category also goes to the dead-letter topic.
    public var isDeadLettered: Bool {
        switch self {
        case .invalidCommand, .unknownTarget, .unauthorized, .unavailable, .vendorError, .internal: true
        case .unsupportedOperation, .expired, .validation, .conflict, .notFound: false
        }
    }

    /// `error.code` when the vendor gave none: the category in upper case.
    public var defaultCode: String { rawValue.uppercased() }
}

/// The reply's `error` object.
public struct ReplyError: Sendable, Hashable, Codable {
    public var category: ErrorCategory
    /// The vendor's own code where it gave one, otherwise the category in upper case.
    public var code: String
    public var message: String
    public var retryable: Bool

    public init(category: ErrorCategory, code: String? = nil, message: String, retryable: Bool = false) {
        self.category = category
        self.code = code ?? category.defaultCode
        self.message = message
        self.retryable = retryable
    }
}

/// What the vendor said, whenever it answered.
public struct VendorResponse: Sendable, Hashable, Codable {
    public var httpStatus: Int?
    public var code: String?
    public var message: String?
    /// The vendor's body, redacted, when it carries more than code and message.
    public var body: JSONValue?

    public init(httpStatus: Int? = nil, code: String? = nil, message: String? = nil, body: JSONValue? = nil) {
        self.httpStatus = httpStatus
        self.code = code
        self.message = message
        self.body = body
    }
}

public enum ReplyStatus: String, Sendable, Hashable, Codable {
    case succeeded, failed
}

/// One reply per command read (contract section 4). Written only by `encoded()` and read only
/// by `init(decoding:)`: one encoder and one decoder, so the shape cannot drift between them.
public struct ProvisioningReply: Sendable, Hashable {
    public static let schema = "provisioning.reply/v1"

    public var schema: String = ProvisioningReply.schema
    public var commandId: String?
    public var correlationId: String?
    public var target: String?
    public var vendor: String?
    public var operation: String?
    public var status: ReplyStatus
    public var vendorUserId: String?
    public var data: JSONValue?
    /// Present exactly when `status` is `failed`.
    public var error: ReplyError?
    public var vendorResponse: VendorResponse?
    public var attempts: Int
    public var dryRun: Bool
    public var receivedAt: Date
    public var completedAt: Date
    public var durationMs: Double
    public var worker: String

    public init(
        commandId: String?, correlationId: String?, target: String?, vendor: String?, operation: String?,
        status: ReplyStatus, vendorUserId: String? = nil, data: JSONValue? = nil, error: ReplyError? = nil,
        vendorResponse: VendorResponse? = nil, attempts: Int, dryRun: Bool, receivedAt: Date, completedAt: Date, worker: String
    ) {
        self.commandId = commandId
        self.correlationId = correlationId
        self.target = target
        self.vendor = vendor
        self.operation = operation
        self.status = status
        self.vendorUserId = vendorUserId
        self.data = data
        self.error = error
        self.vendorResponse = vendorResponse
        self.attempts = attempts
        self.dryRun = dryRun
        self.receivedAt = receivedAt
        self.completedAt = completedAt
        self.durationMs = (completedAt.timeIntervalSince(receivedAt) * 1_000_000).rounded() / 1000
        self.worker = worker
    }

    /// The reply's JSON, as published (contract section 4), written directly (see `JSONWriter`):
    /// `vendorUserId` and `data` as null when unknown, `error` and `vendorResponse` only when
    /// there is one, times as RFC 3339 with milliseconds.
    public func encoded() throws -> [UInt8] {
        var json = JSONWriter()
        json.beginObject()
        json.key("schema")
        json.string(schema)
        json.key("commandId")
        json.string(commandId)
        if let correlationId {
            json.key("correlationId")
            json.string(correlationId)
        }
        json.key("target")
        json.string(target)
        json.key("vendor")
        json.string(vendor)
        json.key("operation")
        json.string(operation)
        json.key("status")
        json.string(status.rawValue)
        json.key("vendorUserId")
        json.string(vendorUserId)
        json.key("data")
        json.value(data)
        if let error {
            json.key("error")
            json.beginObject()
            json.key("category")
            json.string(error.category.rawValue)
            json.key("code")
            json.string(error.code)
            json.key("message")
            json.string(error.message)
            json.key("retryable")
            json.raw(error.retryable ? "true" : "false")
            json.endObject()
        }
        if let vendorResponse {
            json.key("vendorResponse")
            json.beginObject()
            if let status = vendorResponse.httpStatus {
                json.key("httpStatus")
                json.raw(String(status))
            }
            if let code = vendorResponse.code {
                json.key("code")
                json.string(code)
            }
            if let message = vendorResponse.message {
                json.key("message")
                json.string(message)
            }
            if let body = vendorResponse.body {
                json.key("body")
                json.value(body)
            }
            json.endObject()
        }
        json.key("attempts")
        json.raw(String(attempts))
        json.key("dryRun")
        json.raw(dryRun ? "true" : "false")
        json.key("receivedAt")
        json.string(Timestamp.format(receivedAt))
        json.key("completedAt")
        json.string(Timestamp.format(completedAt))
        json.key("durationMs")
        json.raw(durationMs.isFinite ? "\(durationMs)" : "0")
        json.key("worker")
        json.string(worker)
        json.endObject()
        return json.bytes
    }

    /// Kafka headers of a reply: identification plus the CloudEvents Kafka binding, binary mode.
    public func headers(eventId: String = EventID.random()) -> [(key: String, value: String)] {
        var headers: [(key: String, value: String)] = []
        if let commandId { headers.append(("commandId", commandId)) }
        if let correlationId { headers.append(("correlationId", correlationId)) }
        headers.append(("status", status.rawValue))
        headers.append(("ce_specversion", "1.0"))
        headers.append(("ce_id", eventId))
        headers.append(("ce_source", "/provisioner/\(worker)"))
        headers.append(("ce_type", "provisioning.reply.v1"))
        headers.append(("ce_time", Timestamp.format(completedAt)))
        headers.append(("content-type", "application/json"))
        return headers
    }
}

/// RFC 3339 times with milliseconds, UTC, as the contract writes them.
public enum Timestamp {
    /// `2026-11-23T10:00:00.042Z`: UTC, milliseconds. Written by hand, without a format style:
    /// three times per reply and once per log line.
    public static func format(_ date: Date) -> String {
        let since1970 = date.timeIntervalSince1970
        var seconds = time_t(since1970.rounded(.down))
        let milliseconds = min(999, Int((since1970 - Double(seconds)) * 1000))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var text = ""
        text.reserveCapacity(24)
        func append(_ value: Int32, width: Int) {
            let digits = String(value)
            for _ in digits.count..<width { text.append("0") }
            text.append(digits)
        }
        append(parts.tm_year + 1900, width: 4)
        text.append("-")
        append(parts.tm_mon + 1, width: 2)
        text.append("-")
        append(parts.tm_mday, width: 2)
        text.append("T")
        append(parts.tm_hour, width: 2)
        text.append(":")
        append(parts.tm_min, width: 2)
        text.append(":")
        append(parts.tm_sec, width: 2)
        text.append(".")
        append(Int32(milliseconds), width: 3)
        text.append("Z")
        return text
    }

    public static func parse(_ text: String) throws -> Date {
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) { return date }
        return try Date(text, strategy: Date.ISO8601FormatStyle())
    }
}

/// The headers a dead letter adds to the original record (contract section 5).
public struct DeadLetterHeaders: Sendable, Hashable {
    public var originalTopic: String
    public var originalPartition: Int32
    public var originalOffset: Int64
    /// Milliseconds since the epoch, as Kafka timestamps the original record.
    public var originalTimestamp: Int64?
    public var consumerGroup: String
    public var error: ReplyError
    public var attempts: Int
    public var failedAt: Date
    public var worker: String

    public init(
        originalTopic: String, originalPartition: Int32, originalOffset: Int64, originalTimestamp: Int64?, consumerGroup: String, error: ReplyError,
        attempts: Int, failedAt: Date, worker: String
    ) {
        self.originalTopic = originalTopic
        self.originalPartition = originalPartition
        self.originalOffset = originalOffset
        self.originalTimestamp = originalTimestamp
        self.consumerGroup = consumerGroup
        self.error = error
        self.attempts = attempts
        self.failedAt = failedAt
        self.worker = worker
    }

    /// All eleven headers as UTF-8 strings, in the contract's order.
    public var all: [(key: String, value: String)] {
        [
            ("dlq.original.topic", originalTopic),
            ("dlq.original.partition", String(originalPartition)),
            ("dlq.original.offset", String(originalOffset)),
            ("dlq.original.timestamp", originalTimestamp.map { Timestamp.format(Date(timeIntervalSince1970: Double($0) / 1000)) } ?? ""),
            ("dlq.consumer.group", consumerGroup),
            ("dlq.error.category", error.category.rawValue),
            ("dlq.error.code", error.code),
            ("dlq.error.message", error.message),
            ("dlq.attempts", String(attempts)),
            ("dlq.failed.at", Timestamp.format(failedAt)),
            ("dlq.worker", worker),
        ]
    }
}

/// CloudEvents ids for replies: random (version 4) UUIDs from the system generator. Foundation's
/// `UUID()` opened /dev/urandom for each one on Linux, a system call per reply.
public enum EventID {
    public static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        let (high, low) = (generator.next() as UInt64, generator.next() as UInt64)
        func byte(_ value: UInt64, _ index: Int) -> UInt8 { UInt8(truncatingIfNeeded: value >> (8 * index)) }
        let uuid = UUID(
            uuid: (
                byte(high, 0), byte(high, 1), byte(high, 2), byte(high, 3), byte(high, 4), byte(high, 5),
                byte(high, 6) & 0x0F | 0x40, byte(high, 7),
                byte(low, 0) & 0x3F | 0x80, byte(low, 1), byte(low, 2), byte(low, 3), byte(low, 4), byte(low, 5), byte(low, 6), byte(low, 7)
            ))
        return uuid.uuidString
    }
}
