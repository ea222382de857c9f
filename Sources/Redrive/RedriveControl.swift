/// What pause, resume and cancel do to a redrive: one small machine whose transitions return
/// the continuation to resume, resumed by the caller outside the lock.
struct RedriveControl {
    enum State: Equatable {
        case running, paused, cancelled
    }

    private(set) var state = State.running
    /// The sender, waiting while paused.
    private var waiter: CheckedContinuation<Void, Never>?
    /// The sender waiting out the pace between two records: `cancel()` wakes it early.
    private var pacer = Pacer.idle

    private enum Pacer {
        case idle
        case waiting(CheckedContinuation<Void, Never>)
        /// The wait is over (its deadline passed, or cancelled) before or after it began.
        case ended
    }

    /// Nil when it was not running (a second pause changes nothing); else the sender waiting out
    /// the pace, if it waits already, to wake so that it records the pause now.
    mutating func pause() -> CheckedContinuation<Void, Never>?? {
        guard state == .running else { return nil }
        state = .paused
        return .some(endPace())
    }

    /// Nil when it was not paused; else the waiting sender to wake, if it waits already.
    mutating func resume() -> CheckedContinuation<Void, Never>?? {
        guard state == .paused else { return nil }
        state = .running
        defer { waiter = nil }
        return .some(waiter)
    }

    /// Final: nothing more is sent. The waiting senders to wake (paused or pacing), if any.
    mutating func cancel() -> [CheckedContinuation<Void, Never>] {
        guard state != .cancelled else { return [] }
        state = .cancelled
        defer { waiter = nil }
        return [waiter, endPace()].compactMap { $0 }
    }

    /// A new pacing wait begins; `pace(_:)` then keeps its continuation.
    mutating func startPace() {
        pacer = .idle
    }

    /// The sender waits out the pace: true when `continuation` is kept, to be resumed exactly
    /// once by `endPace()` or `cancel()`; false when cancelled or the pace already ended.
    mutating func pace(_ continuation: CheckedContinuation<Void, Never>) -> Bool {
        guard state != .cancelled, case .idle = pacer else { return false }
        pacer = .waiting(continuation)
        return true
    }

    /// The pace is over: the waiting sender to wake, if it waits already.
    mutating func endPace() -> CheckedContinuation<Void, Never>? {
        defer { pacer = .ended }
        if case .waiting(let continuation) = pacer { return continuation }
        return nil
    }

    /// The sender waits while paused: true when `continuation` is kept, to be resumed by
    /// `resume()` or `cancel()`; false when no longer paused (resume it at once).
    mutating func park(_ continuation: CheckedContinuation<Void, Never>) -> Bool {
        guard state == .paused else { return false }
        waiter = continuation
        return true
    }
}
