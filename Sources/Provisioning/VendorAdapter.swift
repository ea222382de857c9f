import Foundation
import ProvisioningContract

/// One vendor's user-management API behind a vendor-neutral interface. An adapter knows its
/// vendor and HTTP, nothing of Kafka; the router has already checked target, capability,
/// expiry and the command's required fields.
public protocol VendorAdapter: Sendable {
    var kind: VendorKind { get }

    /// Maps the command to the vendor request it would send, without sending it: the dry run's
    /// `data.request`, with credentials and secrets redacted. Vendor-side validation of
    /// `user.extensions.<vendor>` happens here too, so a dry run reports it.
    func plan(_ command: ProvisioningCommand, for target: ProvisioningTarget) -> Result<JSONValue, AdapterFailure>

    /// Carries the command out at the vendor.
    func perform(_ command: ProvisioningCommand, for target: ProvisioningTarget) async -> AdapterOutcome
}

/// A configured target: a vendor kind at a base URL with credentials and limits.
public struct ProvisioningTarget: Sendable, Hashable {
    public var name: String
    public var vendor: VendorKind
    public var baseURL: String
    /// Vendor-specific credentials (`username`/`password`, `key`/`accessToken`), already resolved.
    public var credentials: [String: Secret]
    /// URAC's tenant `id` and `code`.
    public var tenant: [String: String]
    public var timeout: Duration
    public var policy: TargetPolicy

    public init(
        name: String, vendor: VendorKind, baseURL: String, credentials: [String: Secret] = [:], tenant: [String: String] = [:],
        timeout: Duration = .seconds(10), policy: TargetPolicy = TargetPolicy()
    ) {
        self.name = name
        self.vendor = vendor
        self.baseURL = baseURL
        self.credentials = credentials
        self.tenant = tenant
        self.timeout = timeout
        self.policy = policy
    }
}

/// What an adapter reports.
public enum AdapterOutcome: Sendable, Hashable {
    case succeeded(vendorUserId: String?, data: JSONValue?, vendorResponse: VendorResponse?)
    case failed(AdapterFailure)
}

public struct AdapterFailure: Error, Sendable, Hashable {
    public var error: ReplyError
    public var vendorResponse: VendorResponse?
    public var vendorUserId: String?
    /// The vendor's `Retry-After`, when it asked for a pause.
    public var retryAfter: Duration?

    public init(
        _ category: ErrorCategory, code: String? = nil, message: String, retryable: Bool = false, vendorResponse: VendorResponse? = nil,
        vendorUserId: String? = nil, retryAfter: Duration? = nil
    ) {
        self.error = ReplyError(category: category, code: code, message: message, retryable: retryable)
        self.vendorResponse = vendorResponse
        self.vendorUserId = vendorUserId
        self.retryAfter = retryAfter
    }
}
