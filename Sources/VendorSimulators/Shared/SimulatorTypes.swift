import Foundation

/// The four vendor APIs the simulator serves; the raw value is the name used by `/_sim/` controls and flags.
public enum SimulatedVendor: String, CaseIterable, Sendable, Codable {
    case tecs, urac, servicemobility, asms

    /// Where the vendor's API lives on the simulator's one port.
    public var pathPrefix: String {
        switch self {
        case .tecs: "/usermanagement-backofficews"
        case .urac: "/urac"
        case .servicemobility: "/seiapi/v3"
        case .asms: "/ASMSAPI"
        }
    }
}

/// Faults one vendor shows to business calls (never to token or `/_sim/` calls), so clients can be
/// tested against slowness, flakiness, stalls and outages. Every field may be omitted in JSON.
public struct SimulatorFaults: Sendable, Codable, Hashable {
    /// Added to every business call before it is handled.
    public var latencyMs: Int = 0
    /// The fraction (0...1) of business calls answered `failureStatus` with a plain-text body.
    public var failureRate: Double = 0
    /// The status of a simulated failure (500, 503 or 429 in practice).
    public var failureStatus: Int = 503
    /// Sent as `Retry-After` on simulated 429 and 503 answers.
    public var retryAfterSeconds: Int = 1
    /// A stall before the call is handled: set it past the client's timeout.
    public var stallMs: Int = 0
    /// The fraction (0...1) of business calls that stall `stallMs` (all of them by default).
    public var stallRate: Double = 1
    /// The vendor answers every business call 503 "vendor down".
    public var down: Bool = false

    public init(
        latencyMs: Int = 0, failureRate: Double = 0, failureStatus: Int = 503, retryAfterSeconds: Int = 1,
        stallMs: Int = 0, stallRate: Double = 1, down: Bool = false
    ) {
        self.latencyMs = latencyMs
        self.failureRate = failureRate
        self.failureStatus = failureStatus
        self.retryAfterSeconds = retryAfterSeconds
        self.stallMs = stallMs
        self.stallRate = stallRate
        self.down = down
    }

    enum CodingKeys: String, CodingKey {
        case latencyMs, failureRate, failureStatus, retryAfterSeconds, stallMs, stallRate, down
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        latencyMs = try container.decodeIfPresent(Int.self, forKey: .latencyMs) ?? 0
        failureRate = try container.decodeIfPresent(Double.self, forKey: .failureRate) ?? 0
        failureStatus = try container.decodeIfPresent(Int.self, forKey: .failureStatus) ?? 503
        retryAfterSeconds = try container.decodeIfPresent(Int.self, forKey: .retryAfterSeconds) ?? 1
        stallMs = try container.decodeIfPresent(Int.self, forKey: .stallMs) ?? 0
        stallRate = try container.decodeIfPresent(Double.self, forKey: .stallRate) ?? 1
        down = try container.decodeIfPresent(Bool.self, forKey: .down) ?? false
    }

    /// Why these faults cannot be applied, or nil when they can.
    public var problem: String? {
        if latencyMs < 0 { return "latencyMs must be 0 or more" }
        if !(0...1).contains(failureRate) { return "failureRate must be between 0 and 1" }
        if !(400...599).contains(failureStatus) { return "failureStatus must be an HTTP error status (400 to 599)" }
        if retryAfterSeconds < 0 { return "retryAfterSeconds must be 0 or more" }
        if stallMs < 0 { return "stallMs must be 0 or more" }
        if !(0...1).contains(stallRate) { return "stallRate must be between 0 and 1" }
        return nil
    }
}

/// What a vendor has seen since the last reset, for tests and the `/_sim/stats` control.
public struct SimulatorStats: Sendable, Codable, Hashable {
    /// Business calls received (token and `/_sim/` calls excluded), whatever they answered.
    public var calls: Int
    /// Tokens handed out by the vendor's token endpoint (ServiceMobility, ASMS).
    public var tokensIssued: Int

    public init(calls: Int = 0, tokensIssued: Int = 0) {
        self.calls = calls
        self.tokensIssued = tokensIssued
    }
}
