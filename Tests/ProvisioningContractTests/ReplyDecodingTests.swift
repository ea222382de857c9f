import Foundation
import ProvisioningContract
import Testing

/// `ProvisioningReply(decoding:)`, the one reply decoder, against what it replaced: JSONDecoder
/// over the former `Decodable` conformance (`LegacyCodableReply`).
@Suite("Reply decoding", .timeLimit(.minutes(10)))
struct ReplyDecodingTests {
    /// The reply with its times as the JSON carries them (milliseconds), so that it can be
    /// compared with one read back.
    static func toTheMillisecond(_ reply: ProvisioningReply) throws -> ProvisioningReply {
        var reply = reply
        reply.receivedAt = try Timestamp.parse(Timestamp.format(reply.receivedAt))
        reply.completedAt = try Timestamp.parse(Timestamp.format(reply.completedAt))
        return reply
    }

    @Test("every status and outcome shape reads back as it was written")
    func roundTrip() throws {
        for reply in ReplyShapes.all {
            let bytes = try reply.encoded()
            let decoded = try ProvisioningReply(decoding: bytes)
            #expect(decoded == (try Self.toTheMillisecond(reply)), "\(String(decoding: bytes, as: UTF8.self))")
        }
    }

    @Test("every reply reads as JSONDecoder read it, the contract's examples too")
    func sameAsJSONDecoder() throws {
        let documents =
            try ReplyShapes.all.map { try $0.encoded() }
            + [ReplyShapes.contractExample, ReplyShapes.contractSucceededExample].map {
                Array($0.utf8)
            }
        for bytes in documents {
            let reference = try JSONDecoder().decode(LegacyCodableReply.self, from: Data(bytes)).reply
            #expect(try ProvisioningReply(decoding: bytes) == reference, "\(String(decoding: bytes, as: UTF8.self))")
        }
    }

    @Test("the contract's example reads as the contract describes it")
    func contractExample() throws {
        let reply = try ProvisioningReply(decoding: Array(ReplyShapes.contractExample.utf8))
        #expect(reply.schema == ProvisioningReply.schema)
        #expect(reply.commandId == "7d0c6f0e-2a0b-4e7e-9a57-2f8f2b6c1d11" && reply.correlationId == "order-42")
        #expect(reply.status == .failed && reply.vendorUserId == nil && reply.data == nil)
        #expect(reply.error == ReplyError(category: .validation, code: "24012", message: "Mandatory fields are not filled email"))
        #expect(reply.vendorResponse == VendorResponse(httpStatus: 200, code: "24012", message: "Mandatory fields are not filled email"))
        #expect(reply.attempts == 1 && !reply.dryRun && reply.durationMs == 42.1 && reply.worker == "host-a/4711")
        #expect(Timestamp.format(reply.completedAt) == "2026-11-23T10:00:00.042Z")
    }

    @Test("unknown fields are ignored, at the top and inside error and vendorResponse")
    func unknownFieldsIgnored() throws {
        let reply = ReplyShapes.failed[0]
        guard case .object(var object) = try JSONParser.parse(try reply.encoded()) else {
            Issue.record("not an object")
            return
        }
        object["addedLater"] = .object(["x": .array([.integer(1)])])
        object["error"] = object["error"].map { error in .object((error.objectValue ?? [:]).merging(["hint": .string("h")]) { old, _ in old }) }
        object["vendorResponse"] = .object(["httpStatus": .integer(409), "latencyMs": .number(3.5)])
        var bytes: [UInt8] = []
        JSONWriter.append(.object(object), to: &bytes)
        let decoded = try ProvisioningReply(decoding: bytes)
        var expected = try Self.toTheMillisecond(reply)
        expected.vendorResponse = VendorResponse(httpStatus: 409)
        #expect(decoded == expected)
    }

    @Test("null reads as absent where the contract allows null, and data null is no data")
    func nullsAreAbsent() throws {
        let text = """
            {"schema":"provisioning.reply/v1","commandId":null,"correlationId":null,"target":null,"vendor":null,"operation":null,\
            "status":"succeeded","vendorUserId":null,"data":null,"error":null,"vendorResponse":{"httpStatus":null,"body":null},\
            "attempts":0,"dryRun":true,"receivedAt":"2026-11-23T10:00:00.000Z","completedAt":"2026-11-23T10:00:00.000Z",\
            "durationMs":0,"worker":"w"}
            """
        let reply = try ProvisioningReply(decoding: Array(text.utf8))
        #expect(reply.commandId == nil && reply.correlationId == nil && reply.data == nil && reply.error == nil)
        #expect(reply.vendorResponse == VendorResponse())
        #expect(try JSONDecoder().decode(LegacyCodableReply.self, from: Data(text.utf8)).reply == reply)
    }

    @Test("a wrong type, a missing field or an unknown name is an error naming the field")
    func errorsNameTheField() throws {
        let valid = try JSONParser.parse(try ReplyShapes.failed[1].encoded()).objectValue ?? [:]
        func problem(_ change: (inout [String: JSONValue]) -> Void) -> ReplyDecodingError? {
            var object = valid
            change(&object)
            var bytes: [UInt8] = []
            JSONWriter.append(.object(object), to: &bytes)
            do {
                _ = try ProvisioningReply(decoding: bytes)
                return nil
            } catch {
                return error
            }
        }
        let cases: [(String, (inout [String: JSONValue]) -> Void)] = [
            ("attempts", { $0["attempts"] = .string("3") }),
            ("attempts", { $0["attempts"] = .number(1.5) }),
            ("attempts", { $0["attempts"] = nil }),
            ("dryRun", { $0["dryRun"] = .integer(0) }),
            ("commandId", { $0["commandId"] = .integer(7) }),
            ("status", { $0["status"] = .string("done") }),
            ("schema", { $0["schema"] = nil }),
            ("worker", { $0["worker"] = .null }),
            ("durationMs", { $0["durationMs"] = .string("42.1") }),
            ("receivedAt", { $0["receivedAt"] = .string("yesterday") }),
            ("error", { $0["error"] = .string("boom") }),
            ("error.retryable", { $0["error"] = $0["error"].map { .object(($0.objectValue ?? [:]).merging(["retryable": .string("no")]) { $1 }) } }),
            ("error.category", { $0["error"] = $0["error"].map { .object(($0.objectValue ?? [:]).merging(["category": .string("oops")]) { $1 }) } }),
            ("vendorResponse.httpStatus", { $0["vendorResponse"] = .object(["httpStatus": .string("200")]) }),
        ]
        for (field, change) in cases {
            let error = problem(change)
            #expect(error?.field == field, "\(String(describing: error))")
            #expect(error?.message.contains(field) == true, "\(String(describing: error))")
        }
    }

    @Test("bytes that are not a JSON object are refused without a field")
    func notAReply() {
        for text in ["", "not json", "[1,2]", "\"reply\"", "{\"schema\":"] {
            #expect(throws: ReplyDecodingError.self) { try ProvisioningReply(decoding: Array(text.utf8)) }
        }
        #expect(throws: ReplyDecodingError.self) { try ProvisioningReply(decoding: [0x7B, 0xFF, 0x7D]) }
    }
}
