import Foundation
import ProvisioningContract
import Testing

@Suite("Replies and dead letters", .timeLimit(.minutes(10)))
struct ReplyTests {
    @Test("each reply's CloudEvents id is a fresh random (version 4) UUID")
    func eventIds() throws {
        let ids = (0..<1000).map { _ in EventID.random() }
        #expect(Set(ids).count == ids.count)
        for id in ids.prefix(50) {
            let uuid = try #require(UUID(uuidString: id), "\(id) is a UUID")
            #expect(uuid.uuidString == id)
            let characters = Array(id)
            #expect(characters[14] == "4", "version 4: \(id)")
            #expect("89AB".contains(characters[19]), "RFC 4122 variant: \(id)")
        }
    }

    let received = Date(timeIntervalSince1970: 1_795_428_000)

    @Test("a failed reply has the contract's fields: error, vendorResponse, nulls for unknowns")
    func failedReply() throws {
        let reply = ProvisioningReply(
            commandId: "c-1", correlationId: "order-42", target: "tecs-test", vendor: "tecs", operation: "createUser",
            status: .failed, error: ReplyError(category: .validation, code: "24012", message: "Mandatory fields are not filled email"),
            vendorResponse: VendorResponse(httpStatus: 200, code: "24012", message: "Mandatory fields are not filled email"),
            attempts: 1, dryRun: false, receivedAt: received, completedAt: received.addingTimeInterval(0.0421), worker: "host-a/4711"
        )
        let json = try JSONDecoder().decode(JSONValue.self, from: Data(try reply.encoded()))
        #expect(json["schema"] == .string("provisioning.reply/v1"))
        #expect(json["status"] == .string("failed"))
        #expect(json["vendorUserId"] == .null)
        #expect(json["data"] == .null)
        #expect(json["error"]?["category"] == .string("validation"))
        #expect(json["error"]?["code"] == .string("24012"))
        #expect(json["error"]?["retryable"] == .bool(false))
        #expect(json["vendorResponse"]?["httpStatus"] == .integer(200))
        #expect(json["receivedAt"] == .string("2026-11-23T10:00:00.000Z"))
        #expect(json["completedAt"] == .string("2026-11-23T10:00:00.042Z"))
        #expect(json["durationMs"] == .number(42.1))
        #expect(json["worker"] == .string("host-a/4711"))
        // Reading it back gives the same reply, to the millisecond the timestamps carry.
        var decoded = try ProvisioningReply(decoding: try reply.encoded())
        #expect(abs(decoded.completedAt.timeIntervalSince(reply.completedAt)) < 0.001)
        decoded.completedAt = reply.completedAt
        #expect(decoded == reply)
    }

    @Test("a succeeded reply has no error, and the category in upper case is the default code")
    func succeededReply() throws {
        let reply = ProvisioningReply(
            commandId: "c-2", correlationId: nil, target: "urac-test", vendor: "urac", operation: "createUser",
            status: .succeeded, vendorUserId: "5c8f", attempts: 1, dryRun: false, receivedAt: received, completedAt: received, worker: "w"
        )
        let json = try JSONDecoder().decode(JSONValue.self, from: Data(try reply.encoded()))
        #expect(json["error"] == nil)
        #expect(json["vendorResponse"] == nil)
        #expect(json["vendorUserId"] == .string("5c8f"))
        #expect(ReplyError(category: .unknownTarget, message: "x").code == "UNKNOWN_TARGET")
    }

    @Test("reply headers: identification and the CloudEvents binary-mode binding")
    func replyHeaders() {
        let reply = ProvisioningReply(
            commandId: "c-3", correlationId: "corr", target: "t", vendor: "tecs", operation: "getUser",
            status: .succeeded, attempts: 1, dryRun: false, receivedAt: received, completedAt: received, worker: "w"
        )
        let headers = Dictionary(uniqueKeysWithValues: reply.headers(eventId: "e-1").map { ($0.key, $0.value) })
        #expect(
            headers == [
                "commandId": "c-3", "correlationId": "corr", "status": "succeeded", "ce_specversion": "1.0", "ce_id": "e-1",
                "ce_source": "/provisioner/w", "ce_type": "provisioning.reply.v1", "ce_time": "2026-11-23T10:00:00.000Z",
                "content-type": "application/json",
            ])
    }

    @Test("dead letters carry all eleven contract headers as strings")
    func deadLetterHeaders() {
        let headers = DeadLetterHeaders(
            originalTopic: "provisioning.commands", originalPartition: 3, originalOffset: 42, originalTimestamp: 1_795_428_000_000,
            consumerGroup: "provisioning-workers", error: ReplyError(category: .invalidCommand, message: "the message is not JSON"),
            attempts: 1, failedAt: received, worker: "w"
        ).all
        #expect(
            headers.map(\.key) == [
                "dlq.original.topic", "dlq.original.partition", "dlq.original.offset", "dlq.original.timestamp", "dlq.consumer.group",
                "dlq.error.category", "dlq.error.code", "dlq.error.message", "dlq.attempts", "dlq.failed.at", "dlq.worker",
            ])
        #expect(
            headers.map(\.value) == [
                "provisioning.commands", "3", "42", "2026-11-23T10:00:00.000Z", "provisioning-workers",
                "invalid_command", "INVALID_COMMAND", "the message is not JSON", "1", "2026-11-23T10:00:00.000Z", "w",
            ])
    }

    @Test("which categories are dead-lettered, per the contract's table")
    func deadLetterCategories() {
        let dead = Set(ErrorCategory.allCases.filter(\.isDeadLettered))
        #expect(dead == [.invalidCommand, .unknownTarget, .unauthorized, .unavailable, .vendorError, .internal])
    }
}
