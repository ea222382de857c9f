import Foundation
import ProvisioningContract
import Testing

/// The hand-written reply JSON against Foundation's encoding of the same reply as the former
/// `encode(to:)` wrote it (`LegacyCodableReply`): the same document, field for field.
@Suite("Reply encoding", .timeLimit(.minutes(10)))
struct ReplyEncodingTests {
    static let replies: [ProvisioningReply] =
        ReplyShapes.all
        + {
            let received = Date(timeIntervalSince1970: 1_795_000_000.123)
            var failed = ProvisioningReply(
                commandId: "c-\"1\"\\/\n\u{1}é", correlationId: "order-42", target: "tecs-test", vendor: "tecs", operation: "createUser",
                status: .failed, error: ReplyError(category: .validation, code: "24012", message: "Mandatory fields\tare not filled email"),
                vendorResponse: VendorResponse(
                    httpStatus: 200, code: "24012", message: "m", body: .object(["a": .array([.integer(1), .number(2.5), .null, .bool(true)])])),
                attempts: 3, dryRun: false, receivedAt: received, completedAt: received.addingTimeInterval(0.0421), worker: "host/1"
            )
            failed.vendorUserId = nil
            let succeeded = ProvisioningReply(
                commandId: nil, correlationId: nil, target: nil, vendor: nil, operation: nil, status: .succeeded,
                vendorUserId: "u-1", data: .object(["request": .object(["url": .string("http://x/y?z=1")])]),
                attempts: 0, dryRun: true, receivedAt: received, completedAt: received, worker: "host/2"
            )
            return [failed, succeeded]
        }()

    @Test("encoded() is the document the former encode(to:) described, and it reads back")
    func sameDocument() throws {
        for reply in Self.replies {
            let bytes = try reply.encoded()
            let fast = try JSONSerialization.jsonObject(with: Data(bytes)) as? NSDictionary
            let reference = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(LegacyCodableReply(reply))) as? NSDictionary
            #expect(fast != nil && fast == reference, "\(String(decoding: bytes, as: UTF8.self))")
            let decoded = try ProvisioningReply(decoding: bytes)
            #expect(
                decoded.commandId == reply.commandId && decoded.error == reply.error && decoded.data == reply.data
                    && decoded.vendorResponse == reply.vendorResponse)
        }
    }

    @Test("timestamps: UTC with milliseconds, as the contract writes them, and they read back")
    func timestamps() throws {
        let date = Date(timeIntervalSince1970: 1_795_000_000.042)
        #expect(Timestamp.format(date) == "2026-11-18T11:06:40.042Z")
        #expect(abs(try Timestamp.parse(Timestamp.format(date)).timeIntervalSince(date)) < 0.001)
        #expect(Timestamp.format(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
    }
}
