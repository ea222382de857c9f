import Dispatch

/// Runs a closure at an instant without a task waiting for it: a command that waits (a retry's
/// backoff, a target's next rate-limit token or breaker probe) costs an entry in a timer heap,
/// not a sleeping task of its own.
public protocol WakeUpScheduling: Sendable {
    /// Calls `body` once, at or soon after `instant`, on any thread. `body` must not block.
    func schedule(at instant: ContinuousClock.Instant, _ body: @escaping @Sendable () -> Void)
}

/// Dispatch's timers: one kernel timer for all of them, one heap entry each.
public struct DispatchWakeUps: WakeUpScheduling {
    public init() {}

    public func schedule(at instant: ContinuousClock.Instant, _ body: @escaping @Sendable () -> Void) {
        let delay = instant - .now
        guard delay > .zero else {
            DispatchQueue.global().async(execute: body)
            return
        }
        // Dispatch's clock is not the continuous clock, and whole nanoseconds round down: a
        // timer that fires before `instant` is set again for the rest, never run early.
        let (seconds, attoseconds) = delay.components
        let nanoseconds = seconds * 1_000_000_000 + attoseconds / 1_000_000_000 + 1
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(nanoseconds))) {
            if ContinuousClock.now < instant { schedule(at: instant, body) } else { body() }
        }
    }
}
