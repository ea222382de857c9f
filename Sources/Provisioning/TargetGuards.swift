import Foundation
import Synchronization

/// Per-target protection: a circuit breaker, a token-bucket rate limit and a concurrency limit.
/// One slow or broken vendor must not take the worker's capacity from the others, so a command
/// that cannot go now is told how long to wait instead of waiting here.
public final class TargetGuards: Sendable {
    public enum Admission: Sendable, Equatable {
        /// Call the vendor, then report with `finished(_:success:)`.
        case go
        /// Come back after this long; `reason` is for logs and the final message.
        case wait(Duration, reason: String)
    }

    private let state = Mutex<[String: TargetState]>([:])
    private let clock: @Sendable () -> ContinuousClock.Instant

    public init(clock: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) {
        self.clock = clock
    }

    public func admit(_ target: ProvisioningTarget) -> Admission {
        let now = clock()
        return state.withLock { states in
            var current = states[target.name] ?? TargetState(target.policy, now: now)
            defer { states[target.name] = current }
            return current.admit(now: now)
        }
    }

    /// Reports a call's end: `transientFailure` when the target failed (timeouts, 5xx, 429),
    /// not when it answered a refusal.
    public func finished(_ target: ProvisioningTarget, transientFailure: Bool) {
        let now = clock()
        state.withLock { states in
            states[target.name]?.finished(transientFailure: transientFailure, now: now)
        }
    }

    /// The breaker's state, for health and tests.
    public func breaker(_ targetName: String) -> BreakerState {
        state.withLock { $0[targetName]?.breaker ?? .closed }
    }

    /// Each target that has been called: its breaker and the vendor calls running now.
    public func snapshot() -> [String: (breaker: BreakerState, running: Int)] {
        state.withLock { states in states.mapValues { ($0.breaker, $0.running) } }
    }

    public enum BreakerState: Sendable, Equatable {
        case closed
        case open(until: ContinuousClock.Instant)
        /// One probe is out; everything else waits for its result.
        case halfOpen

        /// `closed`, `open` or `half-open`, as the status record and the console name it.
        public var name: String {
            switch self {
            case .closed: "closed"
            case .open: "open"
            case .halfOpen: "half-open"
            }
        }
    }
}

private struct TargetState {
    let policy: TargetPolicy
    var breaker: TargetGuards.BreakerState = .closed
    /// The last `policy.breaker.window` results, true for a transient failure.
    var results: [Bool] = []
    var running = 0
    var tokens: Double
    var refilledAt: ContinuousClock.Instant

    init(_ policy: TargetPolicy, now: ContinuousClock.Instant) {
        self.policy = policy
        self.tokens = Double(policy.rateLimit?.burst ?? 0)
        self.refilledAt = now
    }

    mutating func admit(now: ContinuousClock.Instant) -> TargetGuards.Admission {
        switch breaker {
        case .open(let until) where now < until:
            return .wait(until - now, reason: "circuit breaker open")
        case .open:
            guard running < policy.maxConcurrency else { return .wait(.milliseconds(20), reason: "target at maxConcurrency") }
            breaker = .halfOpen
            running += 1
            return .go  // the probe
        case .halfOpen:
            return .wait(.milliseconds(50), reason: "circuit breaker half-open, probing")
        case .closed:
            break
        }
        guard running < policy.maxConcurrency else { return .wait(.milliseconds(20), reason: "target at maxConcurrency") }
        if let limit = policy.rateLimit {
            let elapsed = now - refilledAt
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            tokens = min(Double(limit.burst), tokens + seconds * limit.perSecond)
            refilledAt = now
            guard tokens >= 1 else {
                let missing = (1 - tokens) / limit.perSecond
                return .wait(.milliseconds(max(1, Int((missing * 1000).rounded(.up)))), reason: "target rate limit")
            }
            tokens -= 1
        }
        running += 1
        return .go
    }

    mutating func finished(transientFailure: Bool, now: ContinuousClock.Instant) {
        running = max(0, running - 1)
        if case .halfOpen = breaker {
            if transientFailure {
                breaker = .open(until: now + policy.breaker.openDuration)
            } else {
                breaker = .closed
                results = []
            }
            return
        }
        results.append(transientFailure)
        if results.count > policy.breaker.window { results.removeFirst(results.count - policy.breaker.window) }
        let failures = results.filter { $0 }.count
        if case .closed = breaker, results.count >= policy.breaker.minimumCalls,
            Double(failures) / Double(results.count) >= policy.breaker.failureRatio
        {
            breaker = .open(until: now + policy.breaker.openDuration)
            results = []
        }
    }
}
