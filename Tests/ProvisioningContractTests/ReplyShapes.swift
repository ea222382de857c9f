import Foundation
import ProvisioningContract

/// Every shape a reply takes: each status, each error category, with and without the optional
/// fields, vendor bodies of every JSON type, strings that need escaping, and the contract's own
/// example (CONTRACT.md section 4, docs/asyncapi.yaml `failedWithVendorCode`).
enum ReplyShapes {
    static let received = Date(timeIntervalSince1970: 1_795_428_000)

    static let all: [ProvisioningReply] = succeeded + failed

    static let succeeded: [ProvisioningReply] = [
        ProvisioningReply(
            commandId: "c-1", correlationId: "order-42", target: "urac-test", vendor: "urac", operation: "createUser", status: .succeeded,
            vendorUserId: "5c8f", attempts: 1, dryRun: false, receivedAt: received, completedAt: received.addingTimeInterval(0.0421), worker: "w/1"),
        // Nothing of the command could be read but the reply is still one.
        ProvisioningReply(
            commandId: nil, correlationId: nil, target: nil, vendor: nil, operation: nil, status: .succeeded,
            attempts: 0, dryRun: false, receivedAt: received, completedAt: received, worker: ""),
        // A dry run: the planned request as data.
        ProvisioningReply(
            commandId: "c-2", correlationId: nil, target: "tecs-test", vendor: "tecs", operation: "updateUser", status: .succeeded,
            data: .object(["request": .object(["method": .string("POST"), "url": .string("http://x/y?z=1"), "body": .object(["a": .integer(-7)])])]),
            attempts: 0, dryRun: true, receivedAt: received, completedAt: received.addingTimeInterval(0.0004), worker: "w/2"),
        // getUser's data: every JSON type, nested.
        ProvisioningReply(
            commandId: "c-3", correlationId: "corr", target: "asms-test", vendor: "asms", operation: "getUser", status: .succeeded,
            vendorUserId: "4848",
            data: .object([
                "user": .object(["userName": .string("jdoe"), "active": .bool(true), "birthDate": .null]),
                "numbers": .array([.integer(Int64.max), .integer(Int64.min), .number(2.5), .number(-1e-7)]),
                "empty": .object([:]), "none": .array([]),
            ]),
            vendorResponse: VendorResponse(httpStatus: 200), attempts: 2, dryRun: false, receivedAt: received,
            completedAt: received.addingTimeInterval(1.5), worker: "w/3"),
    ]

    static let failed: [ProvisioningReply] =
        ErrorCategory.allCases.enumerated().map { index, category in
            ProvisioningReply(
                commandId: "f-\(category.rawValue)", correlationId: index.isMultiple(of: 2) ? "order-\(index)" : nil, target: "sm-test",
                vendor: "servicemobility", operation: "deleteUser", status: .failed,
                error: ReplyError(
                    category: category, code: index.isMultiple(of: 3) ? nil : "E\(index)", message: "failed: \(category)",
                    retryable: index.isMultiple(of: 2)),
                vendorResponse: index.isMultiple(of: 2)
                    ? nil : VendorResponse(httpStatus: 400 + index, code: "E\(index)", message: "no", body: .object(["detail": .string("x")])),
                attempts: index + 1, dryRun: false, receivedAt: received, completedAt: received.addingTimeInterval(Double(index) / 100), worker: "w/4")
        } + [
            // Strings that must be escaped, and a vendor response with only some of its fields.
            ProvisioningReply(
                commandId: "c-\"1\"\\/\n\u{1}é🙂", correlationId: "tab\there", target: "tecs-test", vendor: "tecs", operation: "createUser",
                status: .failed, vendorUserId: "half-made",
                error: ReplyError(category: .conflict, code: "25012", message: "line one\r\nline two \u{7f}"),
                vendorResponse: VendorResponse(code: "25012", body: .array([.string("a"), .null])), attempts: 3, dryRun: false,
                receivedAt: received, completedAt: received.addingTimeInterval(0.000_5), worker: "host/1")
        ]

    /// The reply example of CONTRACT.md section 4, as written there.
    static let contractExample = """
        {
          "schema": "provisioning.reply/v1",
          "commandId": "7d0c6f0e-2a0b-4e7e-9a57-2f8f2b6c1d11",
          "correlationId": "order-42",
          "target": "tecs-test",
          "vendor": "tecs",
          "operation": "createUser",
          "status": "failed",
          "vendorUserId": null,
          "data": null,
          "error": { "category": "validation", "code": "24012", "message": "Mandatory fields are not filled email", "retryable": false },
          "vendorResponse": { "httpStatus": 200, "code": "24012", "message": "Mandatory fields are not filled email" },
          "attempts": 1,
          "dryRun": false,
          "receivedAt": "2026-11-23T10:00:00.000Z",
          "completedAt": "2026-11-23T10:00:00.042Z",
          "durationMs": 42.1,
          "worker": "host-a/4711"
        }
        """

    /// The same example succeeded, as a getUser with data.
    static let contractSucceededExample = """
        {"schema":"provisioning.reply/v1","commandId":"7d0c6f0e","target":"urac-test","vendor":"urac","operation":"getUser",\
        "status":"succeeded","vendorUserId":"5c8f","data":{"userName":"jdoe","roles":["a","b"]},"attempts":1,"dryRun":false,\
        "receivedAt":"2026-11-23T10:00:00Z","completedAt":"2026-11-23T10:00:01.5Z","durationMs":1500,"worker":"host-a/4711"}
        """
}
