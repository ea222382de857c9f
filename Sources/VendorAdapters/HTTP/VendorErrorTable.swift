import Provisioning
import ProvisioningContract

/// How one vendor error code is answered. The rows live with each vendor (`TECS.errorRules`, ...);
/// `VendorErrorTable.rules` joins them into the one table that replies, `docs/vendors.md` and the
/// tests all follow.
public struct VendorErrorRule: Sendable, Hashable {
    public let vendor: VendorKind
    public let code: String
    /// Set when the code means something else for this operation (URAC 403 on `addUser`).
    public let operation: ProvisioningContract.Operation?
    public let category: ErrorCategory
    public let retryable: Bool
    public let meaning: String

    init(_ vendor: VendorKind, _ code: String, _ category: ErrorCategory, retryable: Bool = false, on operation: Operation? = nil, _ meaning: String) {
        self.vendor = vendor
        self.code = code
        self.operation = operation
        self.category = category
        self.retryable = retryable
        self.meaning = meaning
    }
}

public enum VendorErrorTable {
    /// Every vendor code the adapters know, per vendor.
    public static let rules: [VendorErrorRule] = TECS.errorRules + URAC.errorRules + ServiceMobility.errorRules + ASMS.errorRules

    private static let index: [String: VendorErrorRule] = Dictionary(
        rules.map { ("\($0.vendor.rawValue)/\($0.operation?.rawValue ?? "*")/\($0.code)", $0) }, uniquingKeysWith: { first, _ in first }
    )

    /// The rule for a code, the operation-specific one first.
    public static func rule(_ vendor: VendorKind, code: String, operation: ProvisioningContract.Operation) -> VendorErrorRule? {
        index["\(vendor.rawValue)/\(operation.rawValue)/\(code)"] ?? index["\(vendor.rawValue)/*/\(code)"]
    }

    /// The failure for a vendor's error answer. A code outside the table is `unavailable` for
    /// 5xx and `vendor_error` otherwise; an answer with no code is judged by its HTTP status.
    static func failure(
        _ vendor: VendorKind, operation: Operation, code: String?, message: String?, response: VendorHTTPResponse
    ) -> AdapterFailure {
        let vendorResponse = VendorResponse(
            httpStatus: response.status, code: code, message: message, body: response.json.map { Redaction.redacted($0) }
        )
        let text = message ?? "HTTP \(response.status)"
        if let code, let rule = rule(vendor, code: code, operation: operation) {
            return AdapterFailure(
                rule.category, code: code, message: text, retryable: rule.retryable, vendorResponse: vendorResponse, retryAfter: response.retryAfter)
        }
        if let code {
            let transient = response.status >= 500
            return AdapterFailure(
                transient ? .unavailable : .vendorError, code: code, message: text, retryable: transient, vendorResponse: vendorResponse,
                retryAfter: response.retryAfter)
        }
        return statusFailure(response, message: message, vendorResponse: vendorResponse)
    }

    /// An answer the vendor gave no code of its own for (a gateway's page, an empty body).
    static func statusFailure(_ response: VendorHTTPResponse, message: String? = nil, vendorResponse: VendorResponse? = nil) -> AdapterFailure {
        let vendorResponse =
            vendorResponse
            ?? VendorResponse(
                httpStatus: response.status, message: message ?? Self.snippet(response.bytes), body: response.json.map { Redaction.redacted($0) }
            )
        let text = message ?? "HTTP \(response.status)" + (Self.snippet(response.bytes).map { ": \($0)" } ?? "")
        switch response.status {
        case 429, 500...599:
            return AdapterFailure(.unavailable, message: text, retryable: true, vendorResponse: vendorResponse, retryAfter: response.retryAfter)
        case 401, 403:
            return AdapterFailure(.unauthorized, message: text, vendorResponse: vendorResponse)
        default:
            return AdapterFailure(.vendorError, message: text, vendorResponse: vendorResponse)
        }
    }

    /// The start of a body that is not JSON (a proxy's error page), for messages.
    static func snippet(_ bytes: [UInt8]) -> String? {
        guard !bytes.isEmpty, let text = String(validating: bytes.prefix(200), as: UTF8.self) else { return nil }
        let line = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        return line.isEmpty ? nil : line
    }
}

extension VendorHTTPResponse {
    /// `Retry-After` in seconds (429, 503), capped at five minutes; HTTP dates are not honoured.
    var retryAfter: Duration? {
        guard let value = headers.first(where: { $0.0.caseInsensitiveCompare("Retry-After") == .orderedSame })?.1,
            let seconds = Int(value.trimmingCharacters(in: .whitespaces)), seconds >= 0
        else { return nil }
        return .seconds(min(seconds, 300))
    }
}
