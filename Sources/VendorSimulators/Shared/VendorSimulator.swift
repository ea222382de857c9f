import Foundation
import ProvisioningContract
import Synchronization

/// One error queued by `/_sim/errors`: the vendor's next `remaining` business calls answer `code`.
struct QueuedError: Sendable {
    var code: String
    var remaining: Int
}

/// Everything the simulator remembers, behind one lock.
struct SimulatorState: Sendable {
    var faults: [SimulatedVendor: SimulatorFaults]
    var queued: [SimulatedVendor: [QueuedError]] = [:]
    var stats: [SimulatedVendor: SimulatorStats] = [:]
    var uracErrorStatus: Int
    var tecs = TECSStore()
    var urac = URACStore()
    var servicemobility = ServiceMobilityStore()
    var asms = ASMSStore()
    /// What crossed the wire, for tests of what the worker sends and must not show: the tokens
    /// issued (to look for in logs) and the `traceparent` of each business call (newest last).
    var issuedTokens: [String] = []
    var traceparents: [String] = []

    /// The next queued error of a vendor, consumed.
    mutating func popQueuedError(_ vendor: SimulatedVendor) -> String? {
        guard var list = queued[vendor], !list.isEmpty else { return nil }
        let code = list[0].code
        list[0].remaining -= 1
        if list[0].remaining <= 0 { list.removeFirst() }
        queued[vendor] = list
        return code
    }

    mutating func countCall(_ vendor: SimulatedVendor) {
        stats[vendor, default: SimulatorStats()].calls += 1
    }

    mutating func countToken(_ vendor: SimulatedVendor, _ tokens: String...) {
        stats[vendor, default: SimulatorStats()].tokensIssued += 1
        issuedTokens = Array((issuedTokens + tokens).suffix(Self.observedLimit))
    }

    mutating func observeTraceparent(_ value: String?) {
        guard let value else { return }
        traceparents.append(value)
        if traceparents.count > Self.observedLimit { traceparents.removeFirst(traceparents.count - Self.observedLimit) }
    }

    static let observedLimit = 1000
}

/// Shared in-memory state of the four vendors (thread-safe: one `Mutex`). The HTTP server
/// (`SimulatorServer`) and tests drive the same instance; the `/_sim/` controls call these methods.
public final class VendorSimulator: Sendable {
    private let startupFaults: [SimulatedVendor: SimulatorFaults]
    private let startupURACErrorStatus: Int
    private let state: Mutex<SimulatorState>

    /// The same faults for every vendor; `uracErrorStatus` is the HTTP status of URAC errors (200 as soajs 2.x, 500 as 3.x).
    /// `reset()` returns to these start-up settings.
    public convenience init(faults: SimulatorFaults = .init(), uracErrorStatus: Int = 200) {
        self.init(faultsByVendor: Dictionary(uniqueKeysWithValues: SimulatedVendor.allCases.map { ($0, faults) }), uracErrorStatus: uracErrorStatus)
    }

    /// Start-up faults per vendor (absent vendors have none), e.g. for `simulate --down asms`.
    public init(faultsByVendor: [SimulatedVendor: SimulatorFaults], uracErrorStatus: Int = 200) {
        startupFaults = faultsByVendor
        startupURACErrorStatus = uracErrorStatus
        state = Mutex(SimulatorState(faults: faultsByVendor, uracErrorStatus: uracErrorStatus))
    }

    func withState<Result: Sendable>(_ body: (inout SimulatorState) -> Result) -> Result {
        state.withLock { state in body(&state) }
    }

    /// Forgets users, tokens, queued errors, stats and `/_sim/` fault changes: back to the start-up settings.
    /// Tokens issued and `traceparent` headers received, the most recent 1,000 of each.
    public var observed: (tokens: [String], traceparents: [String]) {
        withState { ($0.issuedTokens, $0.traceparents) }
    }

    public func reset() {
        let fresh = SimulatorState(faults: startupFaults, uracErrorStatus: startupURACErrorStatus)
        state.withLock { $0 = fresh }
    }

    /// Replaces the faults of one vendor, or of every vendor when `vendor` is nil.
    public func setFaults(_ faults: SimulatorFaults, for vendor: SimulatedVendor?) {
        state.withLock { state in
            for each in vendor.map({ [$0] }) ?? SimulatedVendor.allCases { state.faults[each] = faults }
        }
    }

    /// No faults on any vendor (start-up faults included).
    public func clearFaults() {
        state.withLock { $0.faults = [:] }
    }

    /// The faults a vendor shows now.
    public func faults(_ vendor: SimulatedVendor) -> SimulatorFaults {
        state.withLock { $0.faults[vendor] ?? SimulatorFaults() }
    }

    /// The vendor's next `count` business calls answer the vendor's error `code` in its own shape.
    public func queueError(_ vendor: SimulatedVendor, code: String, count: Int = 1) {
        guard count > 0 else { return }
        state.withLock { $0.queued[vendor, default: []].append(QueuedError(code: code, remaining: count)) }
    }

    /// Tokens issued so far stop working (one vendor, or all when nil); the next call with one answers 401.
    public func expireTokens(_ vendor: SimulatedVendor?) {
        state.withLock { state in
            if vendor == nil || vendor == .servicemobility { state.servicemobility.tokens.removeAll() }
            if vendor == nil || vendor == .asms { state.asms.tokens.removeAll() }
        }
    }

    /// The HTTP status of URAC error envelopes: 200 (soajs 2.x) or 500 (3.x). 132 stays 403 and 158 stays 401.
    public func setURACErrorStatus(_ status: Int) {
        state.withLock { $0.uracErrorStatus = status }
    }

    /// The HTTP status URAC errors are answered with now.
    public var uracErrorStatus: Int { state.withLock { $0.uracErrorStatus } }

    /// A vendor's users as stored (a test control: passwords included).
    public func users(_ vendor: SimulatedVendor) -> [JSONValue] {
        state.withLock { state in
            switch vendor {
            case .tecs: state.tecs.storedUsers
            case .urac: state.urac.storedUsers
            case .servicemobility: state.servicemobility.storedUsers
            case .asms: state.asms.storedUsers
            }
        }
    }

    /// Calls and tokens since the last reset.
    public func stats(_ vendor: SimulatedVendor) -> SimulatorStats {
        state.withLock { $0.stats[vendor] ?? SimulatorStats() }
    }

    /// Marks a URAC user locked: `editUser` and `delete` of it answer 500 "record locked".
    public func lockURACUser(_ id: String) {
        state.withLock { _ = $0.urac.locked.insert(id) }
    }
}
