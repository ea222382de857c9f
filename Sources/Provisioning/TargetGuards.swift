import DequeModule
import Foundation
import Synchronization

/// Per-target protection: a circuit breaker, a token-bucket rate limit and a concurrency limit.
/// One slow or broken vendor must not take the worker's capacity from the others, so a command
/// that cannot go now gets a `TargetTicket` instead of waiting here, and gives its worker slot
/// to other work until the ticket is woken.
///
/// Each target keeps its waiting tickets in arrival order. Nothing polls:
/// - a call's end (`finished`) grants the freed slot to the first ticket in line;
/// - a rate limit wakes the target once, at the instant its next token is due;
/// - an open breaker wakes it once, at its probe time, and the probe's result decides the rest;
/// - a ticket whose deadline passes is woken to give up, by one wake-up per target at the
///   earliest deadline in line.
/// Fresh commands queue behind waiting tickets: a freed slot never goes to a newcomer first.
public final class TargetGuards: Sendable {
    public enum Admission: Sendable {
        /// Call the vendor, then report with `finished(_:transientFailure:)`.
        case go
        /// The target cannot take the call now: step again once the ticket is woken.
        case wait(TargetTicket)
        /// The wait's deadline passed; `reason` says what the command waited for.
        case expired(reason: String)
    }

    private let state = Mutex<[String: TargetState]>([:])
    private let clock: @Sendable () -> ContinuousClock.Instant
    private let wakeUps: any WakeUpScheduling

    public init(
        clock: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }, wakeUps: any WakeUpScheduling = DispatchWakeUps()
    ) {
        self.clock = clock
        self.wakeUps = wakeUps
    }

    /// Admits a call to `target`, or puts it in line. `ticket` is the one an earlier `admit`
    /// handed out and that has been woken since: its grant is used, or, woken without one, it
    /// gives up. A line is left at `deadline` (nil: never).
    public func admit(_ target: ProvisioningTarget, ticket: TargetTicket? = nil, deadline: ContinuousClock.Instant? = nil) -> Admission {
        let now = clock()
        let (admission, wakeUpAt) = state.withLock { states -> (Admission, ContinuousClock.Instant?) in
            var current = states.removeValue(forKey: target.name) ?? TargetState(target.policy, now: now)
            defer { states[target.name] = current }
            if let ticket {
                if ticket.takeGrant() { return (.go, nil) }
                // Woken without a grant: its deadline passed (nothing else wakes a ticket so).
                current.remove(ticket)
                return (.expired(reason: ticket.reason), nil)
            }
            if current.waiting.isEmpty, current.take(now: now) { return (.go, nil) }
            let reason = current.reason(now: now)
            if let deadline, now >= deadline { return (.expired(reason: reason), nil) }
            let ticket = TargetTicket(deadline: deadline, reason: reason)
            current.waiting.append(ticket)
            return (.wait(ticket), current.wakeUpNeeded(now: now, deadline: deadline))
        }
        if let wakeUpAt { scheduleWakeUp(target.name, at: wakeUpAt) }
        return admission
    }

    /// Reports a call's end: `transientFailure` when the target failed (timeouts, 5xx, 429),
    /// not when it answered a refusal. The freed slot goes to the first ticket in line.
    public func finished(_ target: ProvisioningTarget, transientFailure: Bool) {
        let now = clock()
        let (woken, wakeUpAt) = state.withLock { states -> ([TargetTicket], ContinuousClock.Instant?) in
            guard var current = states.removeValue(forKey: target.name) else { return ([], nil) }
            defer { states[target.name] = current }
            current.finished(transientFailure: transientFailure, now: now)
            let woken = current.grant(now: now)
            return (woken, current.wakeUpNeeded(now: now, deadline: nil))
        }
        for ticket in woken { ticket.wake() }
        if let wakeUpAt { scheduleWakeUp(target.name, at: wakeUpAt) }
    }

    /// Gives back what a ticket holds when its command will not step again (its partition left,
    /// or the worker stops): a granted slot goes to the next in line, a place in line is left.
    public func release(_ ticket: TargetTicket, of target: ProvisioningTarget) {
        let now = clock()
        let (woken, wakeUpAt) = state.withLock { states -> ([TargetTicket], ContinuousClock.Instant?) in
            guard var current = states.removeValue(forKey: target.name) else { return ([], nil) }
            defer { states[target.name] = current }
            guard ticket.takeGrant() else {
                current.remove(ticket)
                return ([], nil)
            }
            current.unused(now: now)
            let woken = current.grant(now: now)
            return (woken, current.wakeUpNeeded(now: now, deadline: nil))
        }
        for ticket in woken { ticket.wake() }
        if let wakeUpAt { scheduleWakeUp(target.name, at: wakeUpAt) }
    }

    /// The breaker's state, for health and tests.
    public func breaker(_ targetName: String) -> BreakerState {
        state.withLock { $0[targetName]?.breaker ?? .closed }
    }

    /// Each target that has been called: its breaker and the vendor calls running now.
    public func snapshot() -> [String: (breaker: BreakerState, running: Int)] {
        state.withLock { states in states.mapValues { ($0.breaker, $0.running) } }
    }

    /// Commands in line for the target now.
    public func waiting(_ targetName: String) -> Int {
        state.withLock { $0[targetName]?.waiting.count ?? 0 }
    }

    private func scheduleWakeUp(_ name: String, at instant: ContinuousClock.Instant) {
        wakeUps.schedule(at: instant) { [weak self] in self?.wakeUp(name) }
    }

    /// A target's timer: tickets past their deadline give up, the breaker's probe or the next
    /// token goes to the first in line, and the next wake-up is set.
    private func wakeUp(_ name: String) {
        let now = clock()
        let (woken, wakeUpAt) = state.withLock { states -> ([TargetTicket], ContinuousClock.Instant?) in
            guard var current = states.removeValue(forKey: name) else { return ([], nil) }
            defer { states[name] = current }
            if let scheduled = current.wakeUpAt, scheduled <= now { current.wakeUpAt = nil }
            var woken = current.expire(now: now)
            woken += current.grant(now: now)
            return (woken, current.wakeUpNeeded(now: now, deadline: current.waiting.compactMap(\.deadline).min()))
        }
        for ticket in woken { ticket.wake() }
        if let wakeUpAt { scheduleWakeUp(name, at: wakeUpAt) }
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

/// One target's guards. Every method runs under `TargetGuards`' lock; tickets are woken by the
/// caller after the lock is left.
private struct TargetState {
    let policy: TargetPolicy
    var breaker: TargetGuards.BreakerState = .closed
    /// The last `policy.breaker.window` results, true for a transient failure.
    var results: [Bool] = []
    /// Calls running, and slots granted to tickets and not yet used.
    var running = 0
    var tokens: Double
    var refilledAt: ContinuousClock.Instant
    /// Tickets in arrival order.
    var waiting = Deque<TargetTicket>()
    /// The earliest wake-up set and not yet come; while tickets wait there always is one, no
    /// later than the earliest deadline among them.
    var wakeUpAt: ContinuousClock.Instant?

    init(_ policy: TargetPolicy, now: ContinuousClock.Instant) {
        self.policy = policy
        self.tokens = Double(policy.rateLimit?.burst ?? 0)
        self.refilledAt = now
    }

    /// Takes a slot (and a token, or the probe) if the target can take a call now.
    mutating func take(now: ContinuousClock.Instant) -> Bool {
        switch breaker {
        case .open(let until) where now < until:
            return false
        case .open:
            guard running < policy.maxConcurrency else { return false }
            breaker = .halfOpen
            running += 1
            return true  // the probe
        case .halfOpen:
            return false
        case .closed:
            break
        }
        guard running < policy.maxConcurrency else { return false }
        if let limit = policy.rateLimit {
            refill(limit, now: now)
            guard tokens >= 1 else { return false }
            tokens -= 1
        }
        running += 1
        return true
    }

    private mutating func refill(_ limit: RateLimit, now: ContinuousClock.Instant) {
        let elapsed = now - refilledAt
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        tokens = min(Double(limit.burst), tokens + seconds * limit.perSecond)
        refilledAt = now
    }

    /// What a command in line waits for now.
    func reason(now: ContinuousClock.Instant) -> String {
        switch breaker {
        case .open(let until) where now < until: return "circuit breaker open"
        case .halfOpen: return "circuit breaker half-open, probing"
        default: break
        }
        if running >= policy.maxConcurrency { return "target at maxConcurrency" }
        if policy.rateLimit != nil, tokens < 1 { return "target rate limit" }
        return "behind earlier commands for the target"
    }

    /// Grants slots to the first tickets in line while the target can take calls; drops a
    /// first ticket past its deadline. Returns the tickets to wake.
    mutating func grant(now: ContinuousClock.Instant) -> [TargetTicket] {
        var woken: [TargetTicket] = []
        while let first = waiting.first {
            if let deadline = first.deadline, deadline <= now {
                first.giveUp(because: reason(now: now))
            } else {
                guard take(now: now) else { break }
                first.grant()
            }
            waiting.removeFirst()
            woken.append(first)
        }
        return woken
    }

    /// Drops every ticket past its deadline, wherever it stands in line.
    mutating func expire(now: ContinuousClock.Instant) -> [TargetTicket] {
        guard waiting.contains(where: { $0.deadline.map { $0 <= now } ?? false }) else { return [] }
        let reason = reason(now: now)
        var expired: [TargetTicket] = []
        waiting.removeAll { ticket in
            guard let deadline = ticket.deadline, deadline <= now else { return false }
            ticket.giveUp(because: reason)
            expired.append(ticket)
            return true
        }
        return expired
    }

    mutating func remove(_ ticket: TargetTicket) {
        if let index = waiting.firstIndex(where: { $0 === ticket }) { waiting.remove(at: index) }
    }

    /// A granted slot given back unused. A probe given back lets the next in line probe.
    mutating func unused(now: ContinuousClock.Instant) {
        running = max(0, running - 1)
        if case .halfOpen = breaker { breaker = .open(until: now) }
    }

    /// When the target must be woken next, if earlier than the wake-up already set: the probe
    /// time of an open breaker, the next token's instant, or `deadline` (a ticket's in line).
    /// Records it as set.
    mutating func wakeUpNeeded(now: ContinuousClock.Instant, deadline: ContinuousClock.Instant?) -> ContinuousClock.Instant? {
        guard !waiting.isEmpty else { return nil }
        var next = deadline
        switch breaker {
        case .open(let until):
            next = min(next ?? until, until)
        case .halfOpen:
            break  // the probe's end grants or reopens
        case .closed:
            if running < policy.maxConcurrency, let limit = policy.rateLimit, tokens < 1 {
                let due = refilledAt + .seconds((1 - tokens) / limit.perSecond)
                next = min(next ?? due, due)
            }
        }
        guard let next, wakeUpAt.map({ next < $0 }) ?? true else { return nil }
        wakeUpAt = next
        return next
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
