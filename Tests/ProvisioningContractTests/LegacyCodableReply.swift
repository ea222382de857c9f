import Foundation
import ProvisioningContract

/// The `Codable` conformance `ProvisioningReply` had before it got one encoder (`encoded()`) and
/// one decoder (`init(decoding:)`), kept here only as the reference they are checked against:
/// the published document must not change, and every reply must read as JSONDecoder read it.
struct LegacyCodableReply: Codable {
    var reply: ProvisioningReply

    init(_ reply: ProvisioningReply) {
        self.reply = reply
    }

    private enum CodingKeys: String, CodingKey {
        case schema, commandId, correlationId, target, vendor, operation, status, vendorUserId, data, error
        case vendorResponse, attempts, dryRun, receivedAt, completedAt, durationMs, worker
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(reply.schema, forKey: .schema)
        try container.encode(reply.commandId, forKey: .commandId)
        try container.encodeIfPresent(reply.correlationId, forKey: .correlationId)
        try container.encode(reply.target, forKey: .target)
        try container.encode(reply.vendor, forKey: .vendor)
        try container.encode(reply.operation, forKey: .operation)
        try container.encode(reply.status, forKey: .status)
        try container.encode(reply.vendorUserId, forKey: .vendorUserId)
        try container.encode(reply.data ?? .null, forKey: .data)
        try container.encodeIfPresent(reply.error, forKey: .error)
        try container.encodeIfPresent(reply.vendorResponse, forKey: .vendorResponse)
        try container.encode(reply.attempts, forKey: .attempts)
        try container.encode(reply.dryRun, forKey: .dryRun)
        try container.encode(Timestamp.format(reply.receivedAt), forKey: .receivedAt)
        try container.encode(Timestamp.format(reply.completedAt), forKey: .completedAt)
        try container.encode(reply.durationMs, forKey: .durationMs)
        try container.encode(reply.worker, forKey: .worker)
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        reply = ProvisioningReply(
            commandId: try container.decodeIfPresent(String.self, forKey: .commandId),
            correlationId: try container.decodeIfPresent(String.self, forKey: .correlationId),
            target: try container.decodeIfPresent(String.self, forKey: .target),
            vendor: try container.decodeIfPresent(String.self, forKey: .vendor),
            operation: try container.decodeIfPresent(String.self, forKey: .operation),
            status: try container.decode(ReplyStatus.self, forKey: .status),
            vendorUserId: try container.decodeIfPresent(String.self, forKey: .vendorUserId),
            data: try container.decodeIfPresent(JSONValue.self, forKey: .data).flatMap { $0 == .null ? nil : $0 },
            error: try container.decodeIfPresent(ReplyError.self, forKey: .error),
            vendorResponse: try container.decodeIfPresent(VendorResponse.self, forKey: .vendorResponse),
            attempts: try container.decode(Int.self, forKey: .attempts),
            dryRun: try container.decode(Bool.self, forKey: .dryRun),
            receivedAt: try Timestamp.parse(try container.decode(String.self, forKey: .receivedAt)),
            completedAt: try Timestamp.parse(try container.decode(String.self, forKey: .completedAt)),
            worker: try container.decode(String.self, forKey: .worker))
        reply.schema = try container.decode(String.self, forKey: .schema)
        reply.durationMs = try container.decode(Double.self, forKey: .durationMs)
    }
}
