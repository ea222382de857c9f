import Foundation

extension ProvisioningReply {
    /// The one way to read a reply: the inverse of `encoded()`, built on `JSONParser`.
    ///
    /// It takes what Foundation's `Decodable` conformance took before it: `schema`, `status`,
    /// `attempts`, `dryRun`, `receivedAt`, `completedAt`, `durationMs` and `worker` are required;
    /// the other fields may be absent or null; `data` and `vendorResponse.body` read null as
    /// absent; unknown fields are ignored, so that newer workers may add some; a wrong type
    /// is an error naming the field. Integers follow `JSONValue.integerValue`'s rule.
    public init(decoding bytes: [UInt8]) throws(ReplyDecodingError) {
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw ReplyDecodingError(field: nil, message: "the reply is not valid UTF-8")
        }
        let json: JSONValue
        do {
            json = try JSONParser.parse(bytes)
        } catch {
            throw ReplyDecodingError(field: nil, message: "the reply is not JSON (at byte \(error.offset))")
        }
        guard let object = json.objectValue else {
            throw ReplyDecodingError(field: nil, message: "the reply must be a JSON object, not \(json.typeName)")
        }
        do {
            self = try Self.reply(Fields(object, path: ""))
        } catch {
            throw ReplyDecodingError(field: error.field, message: error.message)
        }
    }

    private static func reply(_ fields: Fields) throws(FieldProblem) -> ProvisioningReply {
        let statusName = try fields.required("status", fields.string("status"))
        guard let status = ReplyStatus(rawValue: statusName) else {
            throw FieldProblem("status", "'status' must be succeeded or failed, not '\(statusName)'")
        }
        var reply = ProvisioningReply(
            commandId: try fields.string("commandId"), correlationId: try fields.string("correlationId"), target: try fields.string("target"),
            vendor: try fields.string("vendor"), operation: try fields.string("operation"), status: status,
            vendorUserId: try fields.string("vendorUserId"), data: fields.value("data"),
            error: try fields.object("error").map { fields throws(FieldProblem) in try replyError(fields) },
            vendorResponse: try fields.object("vendorResponse").map { fields throws(FieldProblem) in try vendorResponse(fields) },
            attempts: try fields.required("attempts", fields.integer("attempts")),
            dryRun: try fields.required("dryRun", fields.bool("dryRun")),
            receivedAt: try time("receivedAt", in: fields), completedAt: try time("completedAt", in: fields),
            worker: try fields.required("worker", fields.string("worker"))
        )
        // As written, not recomputed from the timestamps: they carry milliseconds, it carries microseconds.
        reply.durationMs = try fields.required("durationMs", fields.number("durationMs"))
        reply.schema = try fields.required("schema", fields.string("schema"))
        return reply
    }

    private static func replyError(_ fields: Fields) throws(FieldProblem) -> ReplyError {
        let categoryName = try fields.required("category", fields.string("category"))
        guard let category = ErrorCategory(rawValue: categoryName) else {
            let known = ErrorCategory.allCases.map(\.rawValue).joined(separator: ", ")
            throw FieldProblem(fields.path("category"), "'\(fields.path("category"))' must be one of \(known), not '\(categoryName)'")
        }
        return ReplyError(
            category: category, code: try fields.required("code", fields.string("code")),
            message: try fields.required("message", fields.string("message")),
            retryable: try fields.required("retryable", fields.bool("retryable")))
    }

    private static func vendorResponse(_ fields: Fields) throws(FieldProblem) -> VendorResponse {
        VendorResponse(
            httpStatus: try fields.integer("httpStatus"), code: try fields.string("code"), message: try fields.string("message"),
            body: fields.value("body"))
    }

    private static func time(_ key: String, in fields: Fields) throws(FieldProblem) -> Date {
        let text = try fields.required(key, fields.string(key))
        guard let date = try? Timestamp.parse(text) else {
            throw FieldProblem(fields.path(key), "'\(fields.path(key))' must be an RFC 3339 time such as 2026-11-23T10:00:00.042Z, not '\(text)'")
        }
        return date
    }
}
